"""Bearer tokens on HTTP requests, and the JSON errors of the APIs.

Every route of the agency REST API (and the CAP ingest) starts with

    who = await auth.caller(request, "alerts")

which answers the request for it when the token is missing, unknown or revoked (401, with
`WWW-Authenticate: Bearer`) or lacks the scope (403), so the handler only runs for a caller that
may act. A token is `Authorization: Bearer loa_...` (storage/tokens.py); Open311 clients send
theirs as `api_key`, which they pass as `token=`.

Errors are `{"error": {"code": "...", "message": "..."}}` (and `"field"` when one input is at
fault), raised as aiohttp's HTTP exceptions so that they also stop a handler halfway.
"""

from __future__ import annotations

import json

from aiohttp import web

from storage import tokens
from storage.tokens import Caller
from web.keys import DB

REALM = "loa"
STATUSES: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
    405: web.HTTPMethodNotAllowed, 408: web.HTTPRequestTimeout, 409: web.HTTPConflict,
    413: web.HTTPRequestEntityTooLarge,
    415: web.HTTPUnsupportedMediaType, 422: web.HTTPUnprocessableEntity, 500: web.HTTPInternalServerError,
}


def error_body(code: str, message: str, field: str | None = None) -> dict:
    error = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


def error(status: int, code: str, message: str, *, field: str | None = None,
          headers: dict[str, str] | None = None) -> web.HTTPException:
    """The aiohttp exception of `status` with a JSON error body: `raise auth.error(404, ...)`."""
    text = json.dumps(error_body(code, message, field), ensure_ascii=False)
    cls = STATUSES.get(status)
    if cls is None:
        base = web.HTTPServerError if status >= 500 else web.HTTPClientError
        cls = type(f"HTTP{status}", (base,), {"status_code": status})
        return cls(text=text, content_type="application/json", headers=headers)
    if cls is web.HTTPMethodNotAllowed:
        allow = (headers or {}).get("Allow", "")
        return cls("", [m.strip() for m in allow.split(",") if m.strip()], text=text,
                   content_type="application/json", headers={k: v for k, v in (headers or {}).items() if k != "Allow"})
    if cls is web.HTTPRequestEntityTooLarge:
        return cls(0, 0, text=text, content_type="application/json", headers=headers)
    return cls(text=text, content_type="application/json", headers=headers)


def bearer(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer <token>`; None when there is no such header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return value.strip()


def _challenge(problem: str | None = None, scope: str | None = None) -> str:
    parts = [f'realm="{REALM}"']
    if problem:
        parts.append(f'error="{problem}"')
    if scope:
        parts.append(f'scope="{scope}"')
    return "Bearer " + ", ".join(parts)


async def caller(request: web.Request, scope: str | None, *, token: str | None = None) -> Caller:
    """Who the request's bearer token (or `token`) speaks for, if it may use `scope` (None: any
    valid token). Raises 401 for a missing, unknown or revoked token, 403 for a missing scope.
    The token's `last_used_at` is brought up to date."""
    if token is None:
        token = bearer(request)
    if token is None:
        raise error(401, "unauthorized", "Send a token: Authorization: Bearer <token>.",
                    headers={"WWW-Authenticate": _challenge()})
    if not token:
        raise error(401, "invalid_token", "The Authorization header must be: Bearer <token>.",
                    headers={"WWW-Authenticate": _challenge("invalid_request")})
    db = request.config_dict[DB]
    async with db.transaction() as session:
        who = await tokens.verify(session, token)
    if who is None:
        raise error(401, "invalid_token", "The token is not valid: unknown or revoked.",
                    headers={"WWW-Authenticate": _challenge("invalid_token")})
    if scope is not None and scope not in who.scopes:
        raise error(403, "insufficient_scope", f"This token may not use the {scope} API "
                    f"(its scopes: {', '.join(sorted(who.scopes))}).",
                    headers={"WWW-Authenticate": _challenge("insufficient_scope", scope)})
    return who
