"""The portal's Flask application: HTML pages for rights holders and operators; the
JSON API is in api.py. Both call the same flows (flows.py)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, abort, g, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from clearcrawl.portal import auth, flows, security
from clearcrawl.portal.api import api
from clearcrawl.portal.effects import OutputFolders
from clearcrawl.portal.flows import Portal, Refused
from clearcrawl.portal.web import (
    address,
    anon_token,
    check_anonymous_csrf,
    is_api,
    operator_session,
    set_session_cookie,
)


def create_app(portal: Portal) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = security.MAX_BODY_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = security.MAX_BODY_BYTES
    app.json.sort_keys = False
    with portal.sessions() as db:
        app.config["CSRF_KEY"] = auth.secret_key(db)
    app.extensions["portal"] = portal

    @app.before_request
    def _open():
        g.db = portal.sessions()
        g.new_anon_cookie = None
        g.anon_cookie = request.cookies.get(auth.ANON_COOKIE, "")[:128]
        if not g.anon_cookie and request.method == "GET" and not is_api():
            g.anon_cookie = g.new_anon_cookie = auth.new_token()

    @app.after_request
    def _headers(response):
        if g.get("new_anon_cookie"):
            response.set_cookie(auth.ANON_COOKIE, g.new_anon_cookie, secure=True,
                                httponly=True, samesite="Strict", path="/")
        return security.add_headers(response, request.is_secure)

    @app.teardown_request
    def _close(_exc):
        db = g.pop("db", None)
        if db is not None:
            db.close()

    @app.errorhandler(Refused)
    def _refused(exc: Refused):
        if is_api():
            return {"error": exc.message}, exc.status
        return render_template("error.html", message=exc.message, code=exc.status), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        message = exc.description or exc.name
        if exc.code == 413:
            message = (f"the request is larger than the portal accepts (a work may have at "
                       f"most {flows.MAX_WORK_BYTES // 2**20} MB)")
        if is_api():
            return {"error": message}, exc.code
        return render_template("error.html", message=message, code=exc.code), exc.code

    @app.context_processor
    def _forms():
        return {"anon_csrf": anon_token(), "operator": g.get("operator"),
                "csrf": g.get("operator_csrf", "")}

    app.register_blueprint(api)
    _pages(app, portal)
    return app


def _form_fields() -> dict:
    fields = {k: request.form.get(k, "") for k in
              ("kind", "value", "title", "text", "rights_holder", "contact_name", "email")}
    upload = request.files.get("work_file")
    if fields["kind"] == "work" and upload is not None and upload.filename:
        data = upload.read(flows.MAX_WORK_BYTES + 1)
        if len(data) > flows.MAX_WORK_BYTES:
            raise Refused(413, f"the work is larger than {flows.MAX_WORK_BYTES // 2**20} MB")
        try:
            fields["text"] = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Refused(422, "the uploaded work is not UTF-8 text") from None
        fields["title"] = fields["title"] or Path(upload.filename).stem[:300]
    return fields


def _pages(app: Flask, portal: Portal) -> None:
    @app.get("/")
    def index() -> ResponseReturnValue:
        return render_template("index.html")

    @app.get("/requests/new")
    def new_request() -> ResponseReturnValue:
        return render_template("new.html", fields={"kind": request.args.get("kind", "domain")})

    @app.post("/requests")
    def file_request() -> ResponseReturnValue:
        check_anonymous_csrf()
        fields = {}
        try:
            fields = _form_fields()
            row, token = flows.file_request(g.db, portal, fields, address())
        except Refused as exc:
            if len(fields.get("text") or "") > 100_000:
                fields["text"] = ""  # a large work is not echoed back into the page
            return render_template("new.html", fields=fields, error=exc.message), exc.status
        return render_template("receipt.html", row=row, token=token), 201

    @app.get("/status/<request_id>")
    def status_page(request_id: str) -> ResponseReturnValue:
        token = request.args.get("token", "")
        row = flows.for_token(g.db, request_id, token)
        return render_template("status.html", status=flows.status(portal, row), token=token)

    @app.post("/status/<request_id>/verify")
    def verify_page(request_id: str) -> ResponseReturnValue:
        check_anonymous_csrf()
        token = request.form.get("token", "")
        row = flows.for_token(g.db, request_id, token)
        check = flows.verify(g.db, portal, row, "rights holder", address())
        return render_template("status.html", status=flows.status(portal, row), token=token,
                               check=check)

    @app.get("/operator/login")
    def login_page() -> ResponseReturnValue:
        return render_template("login.html")

    @app.post("/operator/login")
    def login() -> ResponseReturnValue:
        check_anonymous_csrf()
        try:
            cookie, _session = flows.login(g.db, portal, request.form.get("username", ""),
                                           request.form.get("password", ""), address())
        except Refused as exc:
            return render_template("login.html", error=exc.message), exc.status
        response = app.redirect("/operator", 303)
        set_session_cookie(response, cookie)
        return response

    @app.post("/operator/logout")
    def logout() -> ResponseReturnValue:
        operator_session(api=False)
        auth.end_session(g.db, request.cookies.get(auth.SESSION_COOKIE))
        auth.record(g.db, f"operator:{g.operator.username}", "logout", address())
        g.db.commit()
        response = app.redirect("/", 303)
        response.delete_cookie(auth.SESSION_COOKIE, path="/", secure=True, httponly=True,
                               samesite="Strict")
        return response

    def queue_page(message: str = "", error: str = "", code: int = 200):
        operator_session(api=False)
        return render_template("queue.html", requests=flows.queue(g.db), message=message,
                               error=error), code

    @app.get("/operator")
    def queue() -> ResponseReturnValue:
        return queue_page()

    @app.post("/operator/requests/<request_id>/<action>")
    def decide(request_id: str, action: str) -> ResponseReturnValue:
        operator_session(api=False)
        if action not in ("approve", "reject"):
            abort(404)
        who = g.operator.username
        try:
            if action == "approve":
                row = flows.approve(g.db, portal, request_id, who, address())
                message = f"Request {row.id} accepted as registry entry {row.entry_id}."
            else:
                row = flows.reject(g.db, portal, request_id, who,
                                   request.form.get("reason", ""), address())
                message = f"Request {row.id} rejected."
        except Refused as exc:
            return queue_page(error=exc.message, code=exc.status)
        return queue_page(message=message)

    @app.get("/operator/audit")
    def audit() -> ResponseReturnValue:
        operator_session(api=False)
        return render_template("audit.html", events=flows.audit_log(g.db))


def build(registry: str, db_url: str, outputs: list[str], **options) -> Flask:
    """The application for a registry folder and database (migrated on the way)."""
    from clearcrawl.portal.db import open_database

    portal = Portal(Path(registry), open_database(db_url), OutputFolders(outputs), **options)
    return create_app(portal)
