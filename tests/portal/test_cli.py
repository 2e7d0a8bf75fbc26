"""`clearcrawl portal add-operator` and `clearcrawl portal serve` as a user runs them."""

from __future__ import annotations

import io
import select
import signal
import subprocess
import sys

import requests

from clearcrawl.cli import main as cli_main


def _add_operator(monkeypatch, capsys, password: str, *where: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    code = cli_main(["portal", "add-operator", *where, "--username", "bob"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_add_operator_reads_the_password_from_stdin(monkeypatch, capsys, sqlite_url):
    code, text = _add_operator(monkeypatch, capsys, "a long enough secret", "--db", sqlite_url)
    assert code == 0 and "operator 'bob' created" in text
    code, text = _add_operator(monkeypatch, capsys, "short", "--db", sqlite_url)
    assert code == 2 and "at least 10 characters" in text
    code, text = _add_operator(monkeypatch, capsys, "another long secret", "--db", sqlite_url)
    assert code == 0 and "password replaced" in text
    code, text = _add_operator(monkeypatch, capsys, "x" * 12, "--db", "mysql://nope")
    assert code == 2 and "--db must be sqlite:///FILE or postgresql://" in text


def test_serve_answers_on_its_port_and_stops_on_ctrl_c(monkeypatch, capsys, registry, tmp_path):
    code, _ = _add_operator(monkeypatch, capsys, "a long enough secret", "--registry",
                            str(registry))
    assert code == 0
    database = registry.parent / "registry-portal.sqlite3"
    assert database.is_file()  # the default database: a file beside the registry folder
    server = subprocess.Popen(
        [sys.executable, "-m", "clearcrawl.cli", "portal", "serve", "--registry", str(registry),
         "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([server.stdout], [], [], 120)
        assert ready, "the portal printed nothing within 120 s"
        line = server.stdout.readline()
        assert line.startswith("clearcrawl portal on http://127.0.0.1:"), line
        base = line.split()[3].rstrip("/")
        assert requests.get(f"{base}/", timeout=30).status_code == 200
        login = requests.post(f"{base}/api/v1/operator/login", timeout=30,
                              json={"username": "bob", "password": "a long enough secret"})
        assert login.status_code == 200 and login.json()["csrf_token"]
    finally:
        server.send_signal(signal.SIGINT)
        code = server.wait(timeout=60)
        server.stdout.close()
        server.stderr.close()
    assert code == 0


def test_serve_refuses_bad_input_with_one_line(registry, tmp_path, capsys):
    (registry / "domains" / "broken.csv").write_text("entry_id,kind\n")
    assert cli_main(["portal", "serve", "--registry", str(registry)]) == 2
    assert "domains/broken.csv:1: header must be exactly" in capsys.readouterr().err
    (registry / "domains" / "broken.csv").unlink()
    assert cli_main(["portal", "serve", "--registry", str(registry), "--outputs",
                     str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "--outputs" in err and "no such folder" in err and err.count("\n") == 1
