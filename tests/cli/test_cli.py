"""The command line's conventions: help, version, suggestions, exit codes, Beam flags,
and paths that a remote runner's workers could not reach."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.metadata import version

import pytest

from clearcrawl.beam.arguments import RUN_WORKER_PATHS, local_worker_path, remote_runner
from clearcrawl.cli import build_parser, main
from tests.conftest import BUNDLED_REGISTRY


def _every_command(parser: argparse.ArgumentParser, words=()):
    """Each command path of the tree: (), ("run",), ("registry", "sync"), ..."""
    yield words
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _every_command(sub, (*words, name))


COMMANDS = list(_every_command(build_parser()))


def test_the_tree_has_every_command():
    assert {" ".join(words) for words in COMMANDS} >= {
        "", "run", "refilter", "synth", "registry", "registry validate", "registry build",
        "registry sync", "registry add-optout", "audit", "audit verify", "audit eu-summary",
        "audit lookup", "audit report", "robots", "robots fetch", "portal", "portal serve",
        "portal add-operator"}


@pytest.mark.parametrize("words", COMMANDS, ids=lambda w: " ".join(w) or "clearcrawl")
def test_help_at_every_level_goes_to_stdout_and_exits_0(words, capsys):
    assert main([*words, "--help"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"usage: clearcrawl{''.join(' ' + w for w in words)}") and not err


def test_version_is_the_installed_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"clearcrawl {version('clearcrawl')}\n"


@pytest.mark.parametrize("argv, suggestion", [
    (["rnu"], "did you mean 'run'?"),
    (["audit", "verfy", "x"], "did you mean 'verify'?"),
    (["registry", "validat", "x"], "did you mean 'validate'?"),
    (["audit", "lookup", "x", "--url", "u", "--format", "jsn"], "did you mean 'json'?"),
])
def test_a_mistyped_command_exits_2_with_a_suggestion(argv, suggestion, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert not out and suggestion in err and "invalid choice" in err


def test_no_command_and_unknown_flags_outside_pipelines_are_usage_errors(capsys):
    assert main([]) == 2
    assert "required: COMMAND" in capsys.readouterr().err
    assert main(["audit", "verify", "somewhere", "--runner", "DataflowRunner"]) == 2
    assert "unrecognized arguments: --runner DataflowRunner" in capsys.readouterr().err


def test_help_does_not_import_beam():
    # Beam takes seconds to import; the help of every command must not wait for it.
    code = ("import sys\nfrom clearcrawl.cli import main\n"
            "for words in ([], ['run'], ['refilter'], ['registry', 'sync']):\n"
            "    assert main([*words, '--help']) == 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('apache_beam', 'pyarrow', 'numba')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("beam_args, remote", [
    ([], None),
    (["--runner", "DirectRunner"], None),
    (["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"], None),
    (["--runner", "DataflowRunner", "--project", "p"], "DataflowRunner"),
    (["--runner=DataflowRunner"], "DataflowRunner"),
    (["--runner", "DaskRunner"], None),  # a local Dask cluster
    (["--runner", "DaskRunner", "--dask_client_address", "10.0.0.5:8786"], "DaskRunner"),
    (["--runner", "DaskRunner", "--dask_client_address", "tcp://127.0.0.1:8786"], None),
    (["--runner", "DaskRunner", "--dask_client_address", "localhost:8786"], None),
    (["--runner", "DaskRunner", "--dask_client_address", "[::1]:8786"], None),
    (["--runner", "DaskRunner", "--dask_scheduler_file", "/shared/s.json"], "DaskRunner"),
    (["--runner", "DaskRunner", "--dask_client_address", "tcp://10.0.0.5:8786",
      "--dask_shared_filesystem"], None),  # the workers see this machine's paths
    (["--runner", "FlinkRunner"], "FlinkRunner"),  # not known to be local
])
def test_which_runners_run_their_workers_elsewhere(beam_args, remote):
    assert remote_runner(beam_args) == remote


def _run_args(**paths) -> argparse.Namespace:
    defaults = {"input": ["gs://b/crawl/*.warc.gz"], "robots": [], "output": "gs://b/out"}
    return argparse.Namespace(**{**defaults, **paths})


@pytest.mark.parametrize("paths, culprit", [
    ({}, None),
    ({"output": "/data/out"}, "--output /data/out"),
    ({"output": "file:///data/out"}, "--output file:///data/out"),
    ({"input": ["gs://b/a.warc.gz", "crawl/*.warc.gz"]}, "--input crawl/*.warc.gz"),
    ({"robots": ["robots/*.warc.gz"]}, "--robots robots/*.warc.gz"),
])
def test_remote_runners_refuse_local_worker_paths(paths, culprit):
    reason = local_worker_path(_run_args(**paths), ["--runner", "DataflowRunner"],
                               RUN_WORKER_PATHS)
    assert (reason is None) == (culprit is None)
    if culprit:
        assert reason.startswith(culprit) and "DataflowRunner" in reason
        assert "\n" not in reason
    # the same paths are fine on this machine's runners
    assert local_worker_path(_run_args(**paths), [], RUN_WORKER_PATHS) is None
    assert local_worker_path(_run_args(**paths), ["--runner", "DaskRunner"],
                             RUN_WORKER_PATHS) is None


def test_a_remote_dask_cluster_refusal_names_the_shared_filesystem_flag():
    reason = local_worker_path(_run_args(output="/data/out"), [
        "--runner", "DaskRunner", "--dask_client_address", "10.0.0.5:8786"], RUN_WORKER_PATHS)
    assert reason.startswith("--output /data/out") and "--dask_shared_filesystem" in reason


@pytest.mark.parametrize("argv", [
    ["run", "--input", "crawl/*.warc.gz", "--registry", str(BUNDLED_REGISTRY),
     "--output", "gs://b/out", "--runner", "DataflowRunner", "--project", "p",
     "--temp_location", "gs://b/tmp", "--dry_run", "True"],
    ["run", "--input", "gs://b/*.warc.gz", "--registry", str(BUNDLED_REGISTRY),
     "--output", "out", "--runner", "DaskRunner", "--dask_client_address", "10.0.0.5:8786"],
    ["refilter", "--previous", "previous", "--registry", str(BUNDLED_REGISTRY),
     "--output", "gs://b/out", "--runner", "DataflowRunner", "--dry_run", "True"],
    ["run", "--input", "gs://b/*.warc.gz", "--registry", str(BUNDLED_REGISTRY),
     "--robots-store", "store", "--output", "gs://b/out", "--runner", "DataflowRunner",
     "--dry_run", "True"],
])
def test_cli_refuses_a_local_worker_path_with_exit_2_and_one_line(argv, capsys, tmp_path,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert not out and len(err.strip().splitlines()) == 1
    assert err.startswith(f"clearcrawl {argv[0]}: --") and "a local path" in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_pipeline_api_refuses_too(tmp_path):
    from clearcrawl.beam.pipeline import UsageError, run

    with pytest.raises(UsageError, match="--output .*: a local path, but DataflowRunner"):
        run(["--input", "gs://b/*.warc.gz", "--registry", str(BUNDLED_REGISTRY),
             "--output", str(tmp_path / "out"), "--runner", "DataflowRunner",
             "--dry_run", "True"])
    assert not (tmp_path / "out").exists()
