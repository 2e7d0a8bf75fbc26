"""The JSON API's flows end to end, against SQLite and a real PostgreSQL server: file,
read status with the token, log in, review, approve / reject; the registry folder then
validates and builds with the approved entries."""

from __future__ import annotations

import json

import requests
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from clearcrawl.cli import main as cli_main
from clearcrawl.portal.db import engine_for, migrate
from clearcrawl.portal.models import Base
from clearcrawl.registry.snapshot import Snapshot
from clearcrawl.registry.source import load_source
from tests.portal.conftest import WORK_TEXT, Operator, file, serve, status


def test_file_review_and_build(registry, db_url, tmp_path, capsys):
    before = Snapshot.from_source(load_source(registry)).registry_id
    with serve(registry, db_url) as base:
        domain = file(base, kind="domain", value="News.Example-Press.COM.")
        prefix = file(base, kind="url_prefix", value="https://Blog.Example.org/2024/",
                      rights_holder="A. Writer", contact_name="Ann Writer")
        work = file(base, kind="work", text=WORK_TEXT, title="The Ferryman's Ledger")
        for answer in (domain, prefix, work):
            assert answer.status_code == 201, answer.text
            assert answer.json()["status"] == "received"
            assert set(answer.json()) >= {"id", "token", "status"}
        ids = {name: a.json()["id"] for name, a in
               (("domain", domain), ("prefix", prefix), ("work", work))}
        tokens = {name: a.json()["token"] for name, a in
                  (("domain", domain), ("prefix", prefix), ("work", work))}
        assert len(set(ids.values())) == 3 and len(set(tokens.values())) == 3

        seen = status(base, ids["domain"], tokens["domain"]).json()
        assert (seen["status"], seen["pattern"], seen["kind"]) == (
            "received", "news.example-press.com", "domain")
        assert "entry_id" not in seen and seen["verification"]["verified"] is False

        operator = Operator(base)
        queue = operator.get("/api/v1/operator/requests").json()["requests"]
        assert [r["id"] for r in queue] == [ids["domain"], ids["prefix"], ids["work"]]
        assert queue[2]["text_words"] == len(WORK_TEXT.split())

        approved = operator.post(f"/api/v1/operator/requests/{ids['domain']}/approve")
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "accepted"
        assert operator.post(f"/api/v1/operator/requests/{ids['work']}/approve").ok
        rejected = operator.post(f"/api/v1/operator/requests/{ids['prefix']}/reject",
                                 {"reason": "the blog belongs to someone else"})
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        again = operator.post(f"/api/v1/operator/requests/{ids['prefix']}/approve")
        assert again.status_code == 409 and "already rejected" in again.json()["error"]

        accepted = status(base, ids["domain"], tokens["domain"]).json()
        work_status = status(base, ids["work"], tokens["work"]).json()
        refused = status(base, ids["prefix"], tokens["prefix"]).json()
        assert refused["status"] == "rejected"
        assert refused["reason"] == "the blog belongs to someone else"
        audit = operator.get("/api/v1/operator/audit").json()["events"]

    # The registry folder now validates and builds with both entries.
    source = load_source(registry)
    assert source.problems == []
    rules = {r.entry_id: r for r in source.domain_rules}
    rule = rules[accepted["entry_id"]]
    assert (rule.pattern, rule.rights_holder, rule.source) == (
        "news.example-press.com", "Example Press Ltd", "portal")
    works = {w["entry_id"]: w for w in source.works}
    assert works[work_status["entry_id"]]["title"] == "The Ferryman's Ledger"
    assert not any("blog.example.org" in r.pattern for r in source.domain_rules)
    snapshot = Snapshot.from_source(source)
    assert snapshot.registry_id != before
    # The registry_id recorded at approval contains the entry: the work came later, so
    # the domain's first registry_id is an earlier one than the work's.
    assert work_status["registry_id"] == snapshot.registry_id
    assert accepted["registry_id"] not in (before, snapshot.registry_id)
    [evidence] = snapshot.domain_index.match("https://a.news.example-press.com/x")
    assert evidence.entry_id == accepted["entry_id"]
    assert cli_main(["registry", "build", str(registry), "--output",
                     str(tmp_path / "snap")]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["registry_id"] == snapshot.registry_id

    # Every state change is in the audit log: who, what, from where.
    actions = [(e["action"], e["actor"], e["request_id"]) for e in reversed(audit)]
    assert ("filed", "rights holder", ids["domain"]) in actions
    assert ("approved", "operator:alice", ids["domain"]) in actions
    assert ("rejected", "operator:alice", ids["prefix"]) in actions
    assert ("login", "operator:alice", None) in actions
    assert all(e["address"] == "127.0.0.1" for e in audit)


def test_approval_the_registry_refuses_changes_nothing(registry, db_url):
    with serve(registry, db_url) as base:
        filed = file(base, kind="domain", value="refused.example").json()
        (registry / "domains" / "broken.csv").write_text("entry_id,kind\n")
        operator = Operator(base)
        answer = operator.post(f"/api/v1/operator/requests/{filed['id']}/approve")
        assert answer.status_code == 409
        assert "domains/broken.csv:1: header must be exactly" in answer.json()["error"]
        assert status(base, filed["id"], filed["token"]).json()["status"] == "received"
        assert not (registry / "domains" / "requests.csv").exists()
        (registry / "domains" / "broken.csv").unlink()
        assert operator.post(f"/api/v1/operator/requests/{filed['id']}/approve").ok
        events = operator.get("/api/v1/operator/audit").json()["events"]
    assert [e["action"] for e in events if e["request_id"] == filed["id"]] == [
        "approved", "approve_refused", "filed"]
    assert load_source(registry).problems == []


def test_the_same_request_twice_becomes_one_entry(registry, db_url):
    with serve(registry, db_url) as base:
        first = file(base, kind="domain", value="twice.example").json()
        second = file(base, kind="domain", value="TWICE.example.").json()
        operator = Operator(base)
        one = operator.post(f"/api/v1/operator/requests/{first['id']}/approve").json()
        two = operator.post(f"/api/v1/operator/requests/{second['id']}/approve").json()
    assert one["entry_id"] == two["entry_id"]
    assert (registry / "domains" / "requests.csv").read_text().count("twice.example") == 1


def test_invalid_requests_get_a_message_and_change_nothing(registry, db_url):
    cases = [
        ({"kind": "domain", "value": "https://example.com/x"}, "domain takes a host"),
        ({"kind": "domain", "value": "exa mple.com"}, "invalid domain"),
        ({"kind": "url_prefix", "value": "example.com/news/"}, "URL prefix takes a URL"),
        ({"kind": "work", "text": "far too short to match"}, "at least 20 words"),
        ({"kind": "work"}, "text (the work, UTF-8) is required"),
        ({"kind": "poem", "value": "x.example"}, "kind must be one of"),
        ({"kind": "domain", "value": "ok.example", "email": "not-an-address"},
         "is not an e-mail address"),
        ({"kind": "domain", "value": "ok.example", "rights_holder": " "},
         "rights_holder is required"),
        ({"kind": "domain", "value": "ok.example", "rights_holder": "x" * 201},
         "longer than 200"),
        ({"kind": "domain", "value": "ok.example", "rights_holder": ["a"]}, "must be a string"),
        ({"kind": "work", "text": WORK_TEXT + "\x00"}, "without control characters"),
    ]
    with serve(registry, db_url) as base:
        for fields, message in cases:
            answer = file(base, **fields)
            assert answer.status_code == 422, (fields, answer.text)
            assert message in answer.json()["error"], (fields, answer.text)
        not_object = requests.post(f"{base}/api/v1/requests", json=["x"], timeout=30)
        assert not_object.status_code == 400
        form = requests.post(f"{base}/api/v1/requests", data={"kind": "domain"}, timeout=30)
        assert form.status_code == 415
        # NUL characters (which PostgreSQL's text refuses) are answered, not crashed on.
        nul_login = requests.post(f"{base}/api/v1/operator/login", timeout=30,
                                  json={"username": "ali\x00ce", "password": "x" * 12})
        assert nul_login.status_code == 401
        assert status(base, "0123456789abcde%00", "x").status_code == 404
        assert file(base, kind="domain", value="ok.example",
                    title="a\x00b").json()["error"] == "title must not contain control characters"
        queue = Operator(base).get("/api/v1/operator/requests").json()["requests"]
    assert queue == []


def test_migrations_give_the_models_schema(db_url):
    """The migration chain builds exactly the tables and columns the models declare, and
    running it again is a no-op."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = engine_for(db_url)
    migrate(engine)
    migrate(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
        assert set(inspect(connection).get_table_names()) == {
            "alembic_version", "operators", "requests", "audit_log", "operator_sessions",
            "settings"}
    engine.dispose()
    if make_url(db_url).get_backend_name() == "sqlite":
        assert create_engine(db_url).connect().exec_driver_sql(
            "PRAGMA journal_mode").scalar() == "wal"
