"""The portal's hardening, over real HTTP: CSRF, sessions, body limits, rate limits,
escaping, status tokens, security headers, and an OpenAPI schema covering every route."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from clearcrawl.portal.auth import Limits
from tests.portal.conftest import (
    OPERATOR,
    PASSWORD,
    Browser,
    Operator,
    file,
    get,
    post,
    serve,
    status,
)


class Forms(HTMLParser):
    """The hidden inputs of a page, and whether it holds any script."""

    def __init__(self):
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.scripts = 0
        self.inline_handlers = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
        self.inline_handlers += sum(name.startswith("on") for name in attrs)
        if tag == "input" and attrs.get("type") == "hidden":
            self.hidden[attrs["name"]] = attrs.get("value", "")


def page(session: Browser, url: str) -> tuple:
    answer = session.get(url)
    forms = Forms()
    forms.feed(answer.text)
    return answer, forms


@pytest.fixture
def base(registry, sqlite_url):
    with serve(registry, sqlite_url,
               limits=Limits(failed_logins=(5, 900), filed_requests=(8, 3600))) as url:
        yield url


DOMAIN_FORM = {"kind": "domain", "value": "csrf.example", "rights_holder": "R. Holder",
               "email": "r@holder.test"}


def test_form_posts_without_a_valid_csrf_token_are_refused(base):
    client = Browser()
    _answer, forms = page(client, f"{base}/requests/new")
    token = forms.hidden["csrf_token"]
    assert token
    for sent in ({}, {"csrf_token": ""}, {"csrf_token": "0" * 64}):
        refused = client.post(f"{base}/requests", data={**DOMAIN_FORM, **sent})
        assert refused.status_code == 403 and "did not come from this site" in refused.text
    # A token without its cookie (another browser) is refused too.
    stranger = post(f"{base}/requests", data={**DOMAIN_FORM, "csrf_token": token})
    assert stranger.status_code == 403
    login = post(f"{base}/operator/login",
                          data={"username": OPERATOR, "password": PASSWORD})
    assert login.status_code == 403 and "Set-Cookie" not in login.headers
    filed = client.post(f"{base}/requests", data={**DOMAIN_FORM, "csrf_token": token})
    assert filed.status_code == 201 and "Request received" in filed.text
    queue = Operator(base).get("/api/v1/operator/requests").json()["requests"]
    assert [r["pattern"] for r in queue] == ["csrf.example"]  # only the valid post landed


def test_operator_pages_and_endpoints_need_a_session_and_csrf(base):
    filed = file(base, kind="domain", value="session.example").json()
    rid = filed["id"]
    for path in ("/operator", "/operator/audit", "/api/v1/operator/requests",
                 "/api/v1/operator/audit"):
        assert get(base + path).status_code == 401, path
    for path in (f"/api/v1/operator/requests/{rid}/approve",
                 f"/api/v1/operator/requests/{rid}/reject", "/api/v1/operator/logout",
                 f"/operator/requests/{rid}/approve", "/operator/logout"):
        answer = post(base + path, json={"reason": "x"})
        assert answer.status_code == 401, path
        forged = post(base + path, json={"reason": "x"},
                               headers={"Cookie": "cc_operator=forged"})
        assert forged.status_code == 401, path
    operator = Operator(base)
    assert "Secure" in operator.set_cookie and "HttpOnly" in operator.set_cookie
    assert "SameSite=Strict" in operator.set_cookie
    no_csrf = operator.post(f"/api/v1/operator/requests/{rid}/approve", csrf=False)
    assert no_csrf.status_code == 403
    wrong = post(f"{base}/api/v1/operator/requests/{rid}/approve",
                          headers={"Cookie": operator.cookie, "X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    html_post = post(f"{base}/operator/requests/{rid}/approve",
                              headers={"Cookie": operator.cookie})
    assert html_post.status_code == 403
    assert status(base, rid, filed["token"]).json()["status"] == "received"
    assert operator.post("/api/v1/operator/logout").ok
    assert operator.get("/api/v1/operator/requests").status_code == 401  # session ended


def test_uploads_over_the_limit_are_refused_with_413(base):
    six_mb = "word " * (6 * 2**20 // 5)
    api = file(base, kind="work", text=six_mb)
    assert api.status_code == 413 and "larger than" in api.json()["error"]
    client = Browser()
    _answer, forms = page(client, f"{base}/requests/new")
    upload = client.post(f"{base}/requests", data={**DOMAIN_FORM, "kind": "work",
                                                   "csrf_token": forms.hidden["csrf_token"]},
                         files={"work_file": ("big.txt", six_mb.encode(), "text/plain")})
    assert upload.status_code == 413 and "larger than the portal accepts" in upload.text
    latin1 = client.post(f"{base}/requests", data={**DOMAIN_FORM, "kind": "work",
                                                   "csrf_token": forms.hidden["csrf_token"]},
                         files={"work_file": ("w.txt", "caf\xe9 ".encode("latin-1") * 50, "text/plain")})
    assert latin1.status_code == 422 and "not UTF-8 text" in latin1.text
    # Within the body limit but over 5 MB of text: refused by the work's own limit.
    just_over = file(base, kind="work", text="x" * (5 * 2**20 + 1))
    assert just_over.status_code == 413
    assert Operator(base).get("/api/v1/operator/requests").json()["requests"] == []


def test_login_brute_force_is_throttled(base):
    for _ in range(5):
        answer = post(f"{base}/api/v1/operator/login",
                               json={"username": OPERATOR, "password": "guess"})
        assert answer.status_code == 401
    throttled = post(f"{base}/api/v1/operator/login",
                              json={"username": OPERATOR, "password": PASSWORD})
    assert throttled.status_code == 429  # even the right password, from this address
    client = Browser()
    _answer, forms = page(client, f"{base}/operator/login")
    html = client.post(f"{base}/operator/login", data={
        "username": OPERATOR, "password": PASSWORD, "csrf_token": forms.hidden["csrf_token"]})
    assert html.status_code == 429 and "too many failed logins" in html.text


def test_filing_is_rate_limited_per_address(base):
    codes = [file(base, kind="domain", value=f"site{n}.example").status_code for n in range(9)]
    assert codes == [201] * 8 + [429]


HOSTILE = ["Robert'); DROP TABLE requests;--", "<script>alert(1)</script>",
           "\" onmouseover=\"alert(2)", "' OR '1'='1"]


def test_injection_strings_are_stored_and_shown_literally(base, registry):
    filed = file(base, kind="domain", value="literal.example", rights_holder=HOSTILE[0],
                 contact_name=HOSTILE[1], title=HOSTILE[2]).json()
    work = file(base, kind="work", title=HOSTILE[1], rights_holder=HOSTILE[3],
                text=f"{HOSTILE[1]} " + "plain words of a hostile but long enough text " * 5)
    assert work.status_code == 201, work.text
    seen = status(base, filed["id"], filed["token"]).json()
    assert seen["rights_holder"] == HOSTILE[0]
    operator = Operator(base)
    queue = operator.get("/api/v1/operator/requests").json()["requests"]
    assert {r["rights_holder"] for r in queue} == {HOSTILE[0], HOSTILE[3]}
    assert queue[0]["contact_name"] == HOSTILE[1]  # the tables survived the DROP TABLE
    html = operator.get("/operator").text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Robert&#39;); DROP TABLE requests;--" in html
    assert '" onmouseover="' not in html
    status_html = get(f"{base}/status/{filed['id']}",
                               params={"token": filed["token"]}).text
    assert "Robert&#39;); DROP TABLE requests;--" in status_html
    assert operator.post(f"/api/v1/operator/requests/{filed['id']}/approve").ok
    assert operator.post(f"/api/v1/operator/requests/{work.json()['id']}/reject",
                         {"reason": HOSTILE[1]}).ok
    row = (registry / "domains" / "requests.csv").read_text().splitlines()[1]
    assert "\"Robert'); DROP TABLE requests;--\"" in row or HOSTILE[0] in row
    log = operator.get("/operator/audit").text
    assert "<script>" not in log and "&lt;script&gt;" in log


def test_status_is_unreadable_without_its_token(base):
    filed = file(base, kind="domain", value="private.example").json()
    other = file(base, kind="domain", value="other.example").json()
    rid = filed["id"]
    assert status(base, rid, filed["token"]).status_code == 200
    for token in (None, "", "wrong", other["token"], filed["token"][:-1]):
        answer = status(base, rid, token)
        assert answer.status_code == 403 and "private.example" not in answer.text, token
    basic = get(f"{base}/api/v1/requests/{rid}", auth=("x", filed["token"]))
    assert basic.status_code == 403
    assert status(base, "0000000000000000", filed["token"]).status_code == 404
    for params in ({}, {"token": other["token"]}):
        page_answer = get(f"{base}/status/{rid}", params=params)
        assert page_answer.status_code == 403 and "private.example" not in page_answer.text
    verify = post(f"{base}/api/v1/requests/{rid}/verify",
                           headers={"Authorization": f"Bearer {other['token']}"})
    assert verify.status_code == 403


def test_security_headers_on_every_kind_of_answer(base):
    client = Browser()
    filed = file(base, kind="domain", value="headers.example").json()
    answers = [client.get(f"{base}{path}") for path in
               ("/", "/requests/new", "/operator/login", "/static/portal.css",
                f"/status/{filed['id']}?token={filed['token']}", "/api/v1/openapi.json",
                "/operator", "/nowhere")]
    for answer in answers:
        headers = answer.headers
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert "script-src" not in csp and "unsafe-inline" not in csp  # no script allowed
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
    for answer in answers[:5]:
        forms = Forms()
        forms.feed(answer.text)
        assert forms.scripts == 0 and forms.inline_handlers == 0, answer.url
    assert answers[4].headers["Cache-Control"] == "no-store"
    assert answers[-1].status_code == 404 and answers[-2].status_code == 401


def test_openapi_schema_documents_every_api_route(base):
    schema = get(f"{base}/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    app_routes = _api_routes(base)
    documented = {(path, method.upper()) for path, ops in schema["paths"].items()
                  for method in ops}
    assert documented == app_routes
    for ops in schema["paths"].values():
        for op in ops.values():
            for answer in op["responses"].values():
                for media in answer.get("content", {}).values():
                    ref = media["schema"].get("$ref")
                    if ref:
                        assert ref.split("/")[-1] in schema["components"]["schemas"], ref


def _api_routes(base: str) -> set[tuple[str, str]]:
    from flask import Flask

    from clearcrawl.portal.api import api

    app = Flask("routes")
    app.register_blueprint(api)
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", "{id}", rule.rule)
            routes |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return routes
