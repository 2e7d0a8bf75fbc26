"""Fixtures of the portal's tests: a registry copy, a database (SQLite, and PostgreSQL
from Debian's package in a throwaway cluster), and the portal served by waitress on
127.0.0.1 in a thread, so every test talks real HTTP to the real server."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
import requests

from tests.conftest import BUNDLED_REGISTRY

pytest.importorskip("flask", reason="the portal's tests need the 'portal' extra")

from clearcrawl.portal import auth  # noqa: E402
from clearcrawl.portal.app import build  # noqa: E402
from clearcrawl.portal.server import make_server, stop  # noqa: E402

OPERATOR, PASSWORD = "alice", "correct horse battery staple"


@pytest.fixture
def registry(tmp_path) -> Path:
    root = tmp_path / "registry"
    shutil.copytree(BUNDLED_REGISTRY, root, ignore=shutil.ignore_patterns("synced"))
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster on a free port of 127.0.0.1 (trust auth, no fsync),
    run as the `postgres` user when the tests run as root; stopped and deleted after."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server not installed (make test installs Debian's postgresql)")
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="clearcrawl-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        os.chown(base, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", free_port()

    def pg(*args):
        return subprocess.run([*as_user, *map(str, args)], capture_output=True, text=True,
                              timeout=120, cwd=base)

    made = pg(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
              "--no-locale")
    if made.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"initdb failed: {made.stderr[-1000:]}")
    started = pg(bindir / "pg_ctl", "-D", data, "-l", base / "server.log", "-w", "-t", "60",
                 "-o", f"-h 127.0.0.1 -p {port} -k {base} -F", "start")
    if started.returncode != 0:
        log = (base / "server.log").read_text() if (base / "server.log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed: {started.stderr[-500:]} {log[-1000:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        pg(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    import psycopg

    server = request.getfixturevalue("postgres_server")
    name = f"portal_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'portal.sqlite3'}"


@contextlib.contextmanager
def serve(registry: Path, db_url: str, outputs: list[str] = (), **options):
    """The portal on a free port of 127.0.0.1, with one operator; yields its base URL."""
    app = build(str(registry), db_url, list(outputs), **options)
    portal = app.extensions["portal"]
    with portal.sessions() as db:
        auth.set_password(db, OPERATOR, PASSWORD)
        db.commit()
    server = make_server(app, "127.0.0.1", 0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stop(server)
        thread.join(10)
        assert not thread.is_alive()
        portal.sessions.kw["bind"].dispose()


class Operator:
    """An operator's API client: the session cookie is sent by hand, since it is Secure
    and Python's cookie jar keeps Secure cookies from plain http://127.0.0.1."""

    def __init__(self, base: str, username: str = OPERATOR, password: str = PASSWORD):
        self.base = base
        answer = requests.post(f"{base}/api/v1/operator/login",
                               json={"username": username, "password": password}, timeout=30)
        assert answer.status_code == 200, answer.text
        self.set_cookie = answer.headers["Set-Cookie"]
        self.cookie = self.set_cookie.split(";", 1)[0]
        self.csrf = answer.json()["csrf_token"]

    def get(self, path: str) -> requests.Response:
        return requests.get(self.base + path, headers={"Cookie": self.cookie}, timeout=30)

    def post(self, path: str, body: dict | None = None, csrf: bool = True) -> requests.Response:
        headers = {"Cookie": self.cookie}
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        return requests.post(self.base + path, json=body or {}, headers=headers, timeout=60)


def get(url: str, **options) -> requests.Response:
    return requests.get(url, timeout=60, **options)


def post(url: str, **options) -> requests.Response:
    return requests.post(url, timeout=60, **options)


class Browser:
    """Keeps cookies as Chromium does on http://127.0.0.1, a secure context where Secure
    cookies are sent back; Python's cookie jar sends them over https only. Redirects are
    not followed, so every answer's cookies are seen."""

    def __init__(self):
        self.cookies: dict[str, str] = {}

    def request(self, method: str, url: str, **options) -> requests.Response:
        headers = dict(options.pop("headers", {}))
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        answer = requests.request(method, url, headers=headers, allow_redirects=False,
                                  timeout=60, **options)
        self.cookies.update({cookie.name: cookie.value for cookie in answer.cookies})
        return answer

    def get(self, url: str, **options) -> requests.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options) -> requests.Response:
        return self.request("POST", url, **options)


WORK_TEXT = ("The ferryman kept a ledger of every crossing, the weight of each cart and the "
             "names of the oxen, and on the last page he drew the river as it had been "
             "before the bridge. ") * 12


def file(base: str, **fields) -> requests.Response:
    body = {"rights_holder": "Example Press Ltd", "email": "rights@example-press.test",
            **fields}
    return requests.post(f"{base}/api/v1/requests", json=body, timeout=30)


def status(base: str, request_id: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(f"{base}/api/v1/requests/{request_id}", headers=headers, timeout=30)
