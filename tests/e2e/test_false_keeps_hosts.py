"""End to end, issue 17 (host side): a generated WARC crawl with IDN hosts, URLs that
urllib rejects, wildcard list lines, hosts under a private public suffix and records
without a host, filtered by the pipeline with the expected decision and evidence for
every page; then the EU summary and `audit lookup --domain` on the result."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pyarrow.parquet as pq

from clearcrawl.beam.pipeline import run
from clearcrawl.cli import main
from clearcrawl.io.warcwrite import gzip_member, http_response, warc_record
from tests.conftest import BUNDLED_REGISTRY

PAGE = "<html><head><title>t</title></head><body><p>Page at {url}</p></body></html>"
CRAWLED = dt.datetime(2026, 3, 5, tzinfo=dt.UTC)
ROBOTS_CAPTURED = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)  # before every page

# The bundled registry lists torrent-index.example as piracy entry ex-piracy-0002.
DOMAIN_RULES = [  # entry_id, kind, pattern (domains/hosts.csv)
    ("idn-sz", "optout", "faß.de"),
    ("idn-sigma", "optout", "βόλος.gr"),
    ("idn-zwj", "optout", "ශ්‍රී.lk"),
    ("gh-user", "optout", "user.github.io"),
]
# The bundled registry's synced Block List Project list, here in AdGuard form.
SYNCED_LIST = "! AdGuard form\n||adblock-mirror.example^\n*.wild.example\nx.example##.ad\n"
ROBOTS = [("https://xn--bcher-kopie-thb.de/robots.txt", "User-agent: GPTBot\nDisallow: /\n")]

ROBOTS_FILE = "robots.warc.gz"
ROBOTS_ID = ROBOTS_FILE + "@0"  # entry_id of a capture: its file and offset
# (WARC-Target-URI or None for a record without one, decision, [(reason kind, entry_id)])
PAGES = [
    ("https://xn--fa-hia.de/a", "remove", [("domain_optout", "idn-sz")]),   # UTS-46
    ("https://faß.de/b", "remove", [("domain_optout", "idn-sz")]),         # raw U-label
    ("https://fass.de/a", "keep", []),                                     # not faß.de
    ("https://www.xn--nxasmm1c.gr/x", "remove", [("domain_optout", "idn-sigma")]),
    ("https://xn--nxasmq6b.gr/x", "keep", []),                             # βόλοσ: IDNA2003
    ("https://xn--10cl1a0b660p.lk/", "remove", [("domain_optout", "idn-zwj")]),
    ("https://xn--10cl1a0b.lk/", "keep", []),                              # ZWJ dropped
    ("https://bücher-kopie.de/a", "remove", [("robots_crawl_time", ROBOTS_ID)]),  # IDN origin
    ("https://torrent-index.example:99999/x", "remove", [("piracy_domain", "ex-piracy-0002")]),
    ("https://torrent-index.example:80a/x", "remove", [("piracy_domain", "ex-piracy-0002")]),
    ("https://torrent-index.example:-1/x", "remove", [("piracy_domain", "ex-piracy-0002")]),
    ("http://[torrent-index.example/x", "remove", [("piracy_domain", "ex-piracy-0002")]),
    ("https://torrent-index.example\\@other.example/x", "remove",
     [("piracy_domain", "ex-piracy-0002")]),
    ("https://TORRENT-INDEX.example./y", "remove", [("piracy_domain", "ex-piracy-0002")]),
    ("https://other.example/x", "keep", []),
    ("https://wild.example/", "remove",
     [("piracy_domain", "blocklistproject-piracy:wild.example")]),
    ("https://a.wild.example/p", "remove",
     [("piracy_domain", "blocklistproject-piracy:wild.example")]),
    ("https://cdn.adblock-mirror.example/f", "remove",
     [("piracy_domain", "blocklistproject-piracy:adblock-mirror.example")]),
    ("https://x.example/", "keep", []),                 # its line hides elements only
    ("https://user.github.io/post", "remove", [("domain_optout", "gh-user")]),
    ("https://other-user.github.io/post", "keep", []),  # another site under github.io
    ("/relative/page", "error", []),                    # no host: never kept
    ("mailto:editor@torrent-index.example", "error", []),
    (None, "error", []),                                # no WARC-Target-URI at all
]


def _write_crawl(folder):
    crawl = folder / "CC-MAIN-2026-10-hosts.warc.gz"
    with open(crawl, "wb") as fh:
        for url, *_ in PAGES:
            body = PAGE.format(url=url).encode()
            fh.write(gzip_member(warc_record("response", http_response(body), target_uri=url,
                                             date=CRAWLED)))
    robots = folder / ROBOTS_FILE
    with open(robots, "wb") as fh:
        for url, text in ROBOTS:
            fh.write(gzip_member(warc_record(
                "response", http_response(text.encode(), {"Content-Type": "text/plain"}),
                target_uri=url, date=ROBOTS_CAPTURED)))
    return crawl, robots


def _registry(folder):
    root = folder / "registry"
    shutil.copytree(BUNDLED_REGISTRY, root, ignore=shutil.ignore_patterns("synced"))
    (root / "domains" / "hosts.csv").write_text(
        "entry_id,kind,pattern,rights_holder,added,source,note\n"
        + "".join(f"{i},{k},{p},,,,\n" for i, k, p in DOMAIN_RULES), encoding="utf-8")
    (root / "synced").mkdir()
    (root / "synced" / "blocklistproject-piracy.txt").write_text(SYNCED_LIST)
    return root


def test_hosts_end_to_end(tmp_path, capsys):
    crawl, robots = _write_crawl(tmp_path)
    out = tmp_path / "out"
    result = run(["--input", str(crawl), "--robots", str(robots),
                  "--registry", str(_registry(tmp_path)), "--output", str(out)])
    rows = [r for f in sorted((out / "ledger").glob("*.parquet"))
            for r in pq.read_table(f).to_pylist()]
    assert len(rows) == len(PAGES)
    by_url = {r["url"] or None: r for r in rows}
    wrong = []
    for url, decision, expected in PAGES:
        row = by_url[url]
        got = [(r["kind"], r["entry_id"].rsplit("/", 1)[-1]) for r in row["reasons"]]
        if (row["decision"], got) != (decision, expected):
            wrong.append((url, row["decision"], got))
        assert all(r["detail"] for r in row["reasons"])
    assert wrong == [], "\n".join(map(str, wrong))
    assert by_url["https://faß.de/b"]["reasons"][0]["detail"] == (
        "host xn--fa-hia.de under rule xn--fa-hia.de")
    assert by_url["https://faß.de/b"]["registered_domain"] == "xn--fa-hia.de"
    assert by_url["https://user.github.io/post"]["registered_domain"] == "user.github.io"
    assert by_url["https://other-user.github.io/post"]["registered_domain"] == (
        "other-user.github.io")

    errors = [r for f in sorted((out / "errors").glob("*.parquet"))
              for r in pq.read_table(f).to_pylist()]
    hostless = sum(decision == "error" for _, decision, _ in PAGES)
    assert [e["error_kind"] for e in errors] == ["no_host"] * hostless
    counts = result.manifest["counts"]
    assert counts["error"] == hostless
    assert counts["read"] == counts["kept"] + counts["removed"] + counts["error"] == len(PAGES)

    # The EU summary tells github.io sites apart and says on what basis.
    assert main(["audit", "eu-summary", str(out), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert "private part included" in summary["domain_basis"]
    assert summary["distinct_domains"] == 6  # fass.de, the .gr, the .lk, other., x., other-user.
    assert main(["audit", "eu-summary", str(out)]) == 0
    assert "user.github.io, not github.io" in capsys.readouterr().out

    # `lookup --domain` answers for a suffix (every site under it) and for one site.
    assert main(["audit", "lookup", str(out), "--domain", "github.io"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["counts"] == {"removed": 1, "kept": 1, "error": 0}
    assert main(["audit", "lookup", str(out), "--domain", "user.github.io"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["counts"] == {"removed": 1, "kept": 0, "error": 0}
    assert main(["audit", "lookup", str(out), "--domain", "FAß.de"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert {r["url"] for r in answer["removed"]} == {"https://xn--fa-hia.de/a",
                                                      "https://faß.de/b"}
