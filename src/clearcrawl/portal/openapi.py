"""The JSON API's OpenAPI 3.1 description, served at /api/v1/openapi.json."""

from __future__ import annotations

from clearcrawl.portal.models import KINDS


def _json(schema: dict | str) -> dict:
    if isinstance(schema, str):
        schema = {"$ref": f"#/components/schemas/{schema}"}
    return {"content": {"application/json": {"schema": schema}}}


def _answer(description: str, schema: dict | str = "Error") -> dict:
    return {"description": description, **_json(schema)}


ERRORS = {"400": _answer("not a JSON object"), "413": _answer("body over the size limit"),
          "415": _answer("body is not application/json"),
          "422": _answer("invalid input; the message says which field and why"),
          "429": _answer("too many attempts from this address")}
OPERATOR = {"401": _answer("no operator session"),
            "403": _answer("missing or wrong X-CSRF-Token")}
BEARER = [{"statusToken": []}]
SESSION = [{"operatorSession": [], "csrfToken": []}]


def schema() -> dict:
    request_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "clearcrawl rights-holder portal", "version": "1",
                 "description": "File opt-out requests, follow them, and review them."},
        "paths": {
            "/api/v1/requests": {"post": {
                "summary": "File a request (no account needed)",
                "requestBody": {"required": True, **_json("NewRequest")},
                "responses": {"201": _answer("filed: keep the token, it is shown once",
                                             "Receipt"), **ERRORS}}},
            "/api/v1/requests/{id}": {"get": {
                "summary": "A request's status and its effect on the portal's output folders",
                "parameters": [request_id], "security": BEARER,
                "responses": {"200": _answer("the status", "Status"),
                              "403": _answer("missing or wrong token"),
                              "404": _answer("no such request")}}},
            "/api/v1/requests/{id}/verify": {"post": {
                "summary": "Check proof of control (the token at /.well-known/)",
                "parameters": [request_id], "security": BEARER,
                "responses": {"200": _answer("the check's result", "Check"),
                              "403": _answer("missing or wrong token"),
                              "404": _answer("no such request"), **ERRORS}}},
            "/api/v1/operator/login": {"post": {
                "summary": "Log in; sets the session cookie",
                "requestBody": {"required": True, **_json("Login")},
                "responses": {"200": _answer("logged in", "Session"),
                              "401": _answer("wrong user name or password"), **ERRORS}}},
            "/api/v1/operator/logout": {"post": {
                "summary": "End the session", "security": SESSION,
                "responses": {"200": _answer("logged out", {"type": "object"}), **OPERATOR}}},
            "/api/v1/operator/requests": {"get": {
                "summary": "The review queue: undecided requests first", "security": SESSION,
                "responses": {"200": _answer("the queue", "Queue"), **OPERATOR}}},
            "/api/v1/operator/requests/{id}/approve": {"post": {
                "summary": "Write the request's registry entry and accept it",
                "parameters": [request_id], "security": SESSION,
                "responses": {"200": _answer("accepted", "QueueItem"),
                              "404": _answer("no such request"),
                              "409": _answer("already decided, or the registry refuses it "
                                             "(the validator's message)"), **OPERATOR}}},
            "/api/v1/operator/requests/{id}/reject": {"post": {
                "summary": "Reject the request with a reason",
                "parameters": [request_id], "security": SESSION,
                "requestBody": {"required": True, **_json("Reject")},
                "responses": {"200": _answer("rejected", "QueueItem"),
                              "404": _answer("no such request"),
                              "409": _answer("already decided"), **OPERATOR, **ERRORS}}},
            "/api/v1/operator/audit": {"get": {
                "summary": "The audit log, newest first", "security": SESSION,
                "responses": {"200": _answer("events", {"type": "object"}), **OPERATOR}}},
            "/api/v1/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": _answer("OpenAPI 3.1", {"type": "object"})}}},
        },
        "components": {
            "securitySchemes": {
                "statusToken": {"type": "http", "scheme": "bearer",
                                "description": "the token of the request's receipt"},
                "operatorSession": {"type": "apiKey", "in": "cookie", "name": "cc_operator"},
                "csrfToken": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"],
                          "properties": {"error": {"type": "string"}}},
                "NewRequest": {
                    "type": "object", "required": ["kind", "rights_holder", "email"],
                    "properties": {
                        "kind": {"enum": list(KINDS)},
                        "value": {"type": "string", "maxLength": 2048,
                                  "description": "the domain (example.com) or URL prefix "
                                                 "(https://example.com/news/)"},
                        "text": {"type": "string", "description": "the work: UTF-8 text, "
                                 "at most 5 MB, at least 20 words"},
                        "title": {"type": "string", "maxLength": 300},
                        "rights_holder": {"type": "string", "maxLength": 200},
                        "contact_name": {"type": "string", "maxLength": 200},
                        "email": {"type": "string", "maxLength": 254}}},
                "Receipt": {"type": "object", "required": ["id", "token", "status"],
                            "properties": {"id": {"type": "string"},
                                           "token": {"type": "string"},
                                           "status": {"enum": ["received"]},
                                           "status_url": {"type": "string"}}},
                "Status": {"type": "object", "required": ["id", "kind", "status"],
                           "properties": {
                               "id": {"type": "string"}, "kind": {"enum": list(KINDS)},
                               "status": {"enum": ["received", "accepted", "rejected"]},
                               "entry_id": {"type": "string"},
                               "registry_id": {"type": "string"},
                               "reason": {"type": "string"},
                               "verification": {"type": "object"},
                               "outputs": {"type": "array", "items": {"type": "object"}}}},
                "Check": {"type": "object", "properties": {
                    "verified": {"type": "boolean"}, "url": {"type": "string"},
                    "message": {"type": "string"}}},
                "Login": {"type": "object", "required": ["username", "password"],
                          "properties": {"username": {"type": "string"},
                                         "password": {"type": "string"}}},
                "Session": {"type": "object", "required": ["csrf_token"],
                            "properties": {"csrf_token": {"type": "string"},
                                           "expires_at": {"type": "string"}}},
                "Reject": {"type": "object", "required": ["reason"],
                           "properties": {"reason": {"type": "string", "maxLength": 2000}}},
                "QueueItem": {"type": "object", "required": ["id", "kind", "status"]},
                "Queue": {"type": "object", "properties": {
                    "requests": {"type": "array",
                                 "items": {"$ref": "#/components/schemas/QueueItem"}}}},
            },
        },
    }
