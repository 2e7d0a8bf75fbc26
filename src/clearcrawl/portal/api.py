"""The JSON API under /api/v1/ (contract in ARCHITECTURE.md; schema in openapi.py).
JSON bodies only (415 otherwise), JSON answers, the same flows as the pages."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request, url_for

from clearcrawl.portal import auth, flows
from clearcrawl.portal.flows import Refused
from clearcrawl.portal.models import iso
from clearcrawl.portal.openapi import schema
from clearcrawl.portal.web import address, operator_session, set_session_cookie

api = Blueprint("api", __name__, url_prefix="/api/v1")


def _portal() -> flows.Portal:
    return current_app.extensions["portal"]


def _body() -> dict:
    # A JSON content type cannot be sent by a cross-site HTML form: no CSRF by forms.
    if not request.is_json:
        raise Refused(415, "send a JSON body with Content-Type: application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused(400, "the body must be a JSON object")
    return body


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


@api.post("/requests")
def file_request():
    row, token = flows.file_request(g.db, _portal(), _body(), address())
    status_url = url_for("status_page", request_id=row.id, token=token, _external=True)
    return {"id": row.id, "token": token, "status": row.status, "status_url": status_url}, 201


@api.get("/requests/<request_id>")
def status(request_id: str):
    row = flows.for_token(g.db, request_id, _bearer())
    return flows.status(_portal(), row)


@api.post("/requests/<request_id>/verify")
def verify(request_id: str):
    row = flows.for_token(g.db, request_id, _bearer())
    check = flows.verify(g.db, _portal(), row, "rights holder", address())
    return {"verified": check.verified, "url": check.url, "message": check.message}


@api.post("/operator/login")
def login():
    body = _body()
    cookie, session = flows.login(g.db, _portal(), body.get("username"), body.get("password"),
                                  address())
    response = current_app.json.response({"csrf_token": session.csrf_token,
                                          "expires_at": iso(session.expires_at)})
    set_session_cookie(response, cookie)
    return response


@api.post("/operator/logout")
def logout():
    operator_session(api=True)
    auth.end_session(g.db, request.cookies.get(auth.SESSION_COOKIE))
    auth.record(g.db, f"operator:{g.operator.username}", "logout", address())
    g.db.commit()
    return {"logged_out": True}


@api.get("/operator/requests")
def queue():
    operator_session(api=True)
    return {"requests": flows.queue(g.db)}


@api.post("/operator/requests/<request_id>/approve")
def approve(request_id: str):
    operator_session(api=True)
    row = flows.approve(g.db, _portal(), request_id, g.operator.username, address())
    return flows.queue_item(row)


@api.post("/operator/requests/<request_id>/reject")
def reject(request_id: str):
    operator_session(api=True)
    body = _body()
    row = flows.reject(g.db, _portal(), request_id, g.operator.username, body.get("reason"),
                       address())
    return flows.queue_item(row)


@api.get("/operator/audit")
def audit():
    operator_session(api=True)
    return {"events": flows.audit_log(g.db)}


@api.get("/openapi.json")
def openapi():
    return schema()
