"""The one place where errors become HTTP responses: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from xae.errors import TooManyRequests, Unauthorized, XaeError

log = logging.getLogger("xae.api")


def error_body(
    code: str, message: str, details: dict[str, object] | None = None
) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route serves at the request's path (each route serves one method)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]


_MAX_PROBLEMS = 10
_MAX_PART = 40


def _place(loc: Sequence[object]) -> str:
    """Where a problem is (`updates.0.type`). A part can be a key the client chose (a config
    var's name): it is shown escaped and cut short, so the message never carries raw control
    characters, look-alikes unmarked, or a client's megabyte back."""
    parts = []
    for part in loc:
        if part == "body":
            continue
        text = str(part)
        if len(text) > _MAX_PART or not (text.isascii() and text.isprintable()):
            text = ascii(text[:_MAX_PART]) + ("…" if len(text) > _MAX_PART else "")
        parts.append(text)
    return ".".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(XaeError)
    async def xae_error(_: Request, exc: XaeError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if isinstance(exc, Unauthorized):
            headers = {"WWW-Authenticate": exc.challenge}
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        problems = [f"{_place(e['loc'])}: {e['msg']}" for e in errors[:_MAX_PROBLEMS]]
        if len(errors) > _MAX_PROBLEMS:
            problems.append(f"and {len(errors) - _MAX_PROBLEMS} more problems")
        return JSONResponse(
            error_body("invalid_input", "the request is not valid: " + "; ".join(problems)),
            status_code=422,
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {400: "invalid_input", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # HTTP requires `Allow` with every method of the path; Starlette names only those
            # of the first route that matched it.
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            error_body("internal_error", "xae hit an unexpected error; the server log has details"),
            status_code=500,
        )
