"""Security headers and body limits applied to every answer of the portal."""

from __future__ import annotations

from clearcrawl.portal.flows import MAX_WORK_BYTES

# A work of 5 MB plus the other form fields and multipart framing; bigger bodies get 413.
MAX_BODY_BYTES = MAX_WORK_BYTES + 256 * 1024
# The server refuses bodies beyond this before the application sees them.
SERVER_MAX_BODY_BYTES = 8 * 2**20

# No script at all: the pages are plain forms. Styles only from our own file.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


def add_headers(response, secure: bool):
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    # Status links carry their token in the URL: never send it on as a Referer.
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if not response.headers.get("Cache-Control"):
        headers["Cache-Control"] = "no-store"
    if secure:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return response
