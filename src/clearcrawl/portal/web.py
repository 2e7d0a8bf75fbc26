"""Request helpers shared by the pages (app.py) and the JSON API (api.py): the caller's
address, operator sessions with their CSRF checks, anonymous CSRF tokens, cookies."""

from __future__ import annotations

from flask import current_app, g, request

from clearcrawl.portal import auth
from clearcrawl.portal.flows import Refused


def is_api() -> bool:
    return request.path.startswith("/api/")


def address() -> str:
    return request.remote_addr or "unknown"


def anon_token() -> str:
    cookie = g.get("anon_cookie")
    return auth.anonymous_csrf(current_app.config["CSRF_KEY"], cookie) if cookie else ""


def check_anonymous_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    if not g.anon_cookie or not sent or not auth.same(sent, anon_token()):
        raise Refused(403, "this form has expired or did not come from this site; "
                           "reload the page and send it again")


def operator_session(api: bool) -> auth.OperatorSession:
    """The caller's operator session (401 without one); for changes, its CSRF token
    must come too (403 without): X-CSRF-Token for the API, a form field for pages."""
    found = auth.find_session(g.db, request.cookies.get(auth.SESSION_COOKIE))
    if found is None:
        raise Refused(401, "operators only: log in first")
    session, operator = found
    g.operator, g.operator_csrf = operator, session.csrf_token
    if request.method != "GET":
        sent = request.headers.get("X-CSRF-Token", "") if api else \
            request.form.get("csrf_token", "")
        if not sent or not auth.same(sent, session.csrf_token):
            raise Refused(403, "missing or wrong CSRF token")
    return session


def set_session_cookie(response, cookie: str) -> None:
    response.set_cookie(auth.SESSION_COOKIE, cookie, secure=True, httponly=True,
                        samesite="Strict", path="/", max_age=auth.SESSION_HOURS * 3600)
