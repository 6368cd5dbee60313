"""Limits applied to every request before any route runs: body size and per-caller rate.

Both are pure ASGI middlewares (no dependency beyond Starlette) placed in front of the routes,
so a refused request costs no JSON parsing, no database session and no lock.

`BodyLimit` refuses a body larger than `max_bytes` with 413: at once when `Content-Length`
says so, and, for a chunked body (no length), as soon as the bytes read pass the limit; the
route's own answer is then dropped and the 413 sent instead. Routes that stream an upload
(`xae deploy`'s tarball, bounded by `max_upload_bytes` as it is spooled, and git's pushes and
fetches, bounded the same way) are exempt.

`RateLimit` charges each request to its caller's token bucket (`xae.auth.ratelimit`) and
refuses one that finds it empty with 429 and `Retry-After`. Both answer with the API's error
body (`xae.api.errors`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xae.api.errors import error_body
from xae.auth.ratelimit import RateLimiter, caller_key
from xae.errors import BodyTooLarge, TooManyRequests, XaeError

UPLOAD_ROUTES = (
    ("POST", re.compile(r"/v1/apps/[^/]+/deploys")),
    ("POST", re.compile(r"/git/[^/]+\.git/git-(upload|receive)-pack")),
)
"""Routes that read their body as a stream under their own limit (`max_upload_bytes`)."""


def _answer(error: XaeError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.message, error.details),
        status_code=error.status,
        headers=headers,
    )


class _Overflow(Exception):
    """Raised into the route when the body grows past the limit; the middleware answers."""


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        exempt: Iterable[tuple[str, re.Pattern[str]]] = UPLOAD_ROUTES,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = tuple(exempt)

    def _is_exempt(self, scope: Scope) -> bool:
        method, path = scope["method"], scope["path"]
        return any(m == method and p.fullmatch(path) for m, p in self.exempt)

    def _refusal(self) -> BodyTooLarge:
        return BodyTooLarge(
            f"the request body is larger than {self.max_bytes} bytes, the most the API reads "
            "(XAE_MAX_JSON_BODY): send less, e.g. fewer config vars per `config:set`",
            details={"max_bytes": self.max_bytes},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_exempt(scope):
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        # A malformed length is the HTTP server's to refuse; a declared excess is refused
        # before a byte of the body is read.
        if length and length.isascii() and length.isdigit() and int(length) > self.max_bytes:
            await _answer(self._refusal())(scope, receive, send)
            return
        received = 0
        overflowed = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, overflowed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    overflowed = True
                    raise _Overflow
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if overflowed:
                return  # the route's answer to a cut-short body; the 413 goes out instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_Overflow):
            await self.app(scope, limited_receive, guarded_send)
        if overflowed and not started:
            await _answer(self._refusal())(scope, receive, send)


class RateLimit:
    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limiter.enabled:
            await self.app(scope, receive, send)
            return
        scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
        client = scope.get("client")
        address = client[0] if client else "unknown"
        key = caller_key(token.strip() if scheme.lower() == "bearer" else None, address)
        try:
            self.limiter.take(key)
        except TooManyRequests as e:
            await _answer(e, {"Retry-After": str(e.retry_after)})(scope, receive, send)
            return
        await self.app(scope, receive, send)
