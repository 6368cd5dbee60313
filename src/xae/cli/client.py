"""The one place the CLI talks HTTP to the xae API.

It adds the bearer token, applies timeouts (none for reading streams: builds and `logs -f` may
stay quiet for a long time), and turns every failure into a `CLIError` that says what to do:
the API's JSON error, a 401, a server that is not running. Commands get an `ApiClient` from the
`Session` in the Typer context, so tests can inject an `httpx.MockTransport`.

List endpoints answer one page as a plain JSON list and, when more follow, the next page's
cursor in the `X-Next-Cursor` header: `get_all` follows it (a bounded number of pages, so a
server that keeps answering with a cursor cannot keep the CLI looping), `get_page` reads one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import typer

from xae.cli import config
from xae.cli.errors import CLIError

TIMEOUT = httpx.Timeout(60.0, connect=5.0)
STREAM_TIMEOUT = httpx.Timeout(60.0, connect=5.0, read=None)
_MAX_ERROR_TEXT = 300
MAX_PAGES = 100
"""The most pages `get_all` follows; past it the listing stops with an error saying so."""
PAGE_SIZE = 500
"""Items asked for per page when listing everything (the API's largest page)."""
NEXT_CURSOR = "X-Next-Cursor"

Params = Mapping[str, str | int | float | bool | None]


class ApiClient:
    """A thin, typed wrapper over `httpx.Client` with xae's error mapping."""

    def __init__(
        self,
        api_url: str,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        headers = {"Accept": "application/json", "User-Agent": "xae-cli"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.api_url, headers=headers, timeout=TIMEOUT, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Params | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON body (`None` for an empty body). A
        `timeout` (seconds) replaces the usual one, for calls that wait on something slow."""
        return self._send(method, path, json_body=json_body, params=params, timeout=timeout)[0]

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Params | None = None,
        timeout: float | None = None,
    ) -> tuple[Any, httpx.Headers]:
        limit = httpx.Timeout(timeout, connect=5.0) if timeout else httpx.USE_CLIENT_DEFAULT
        try:
            response = self._http.request(
                method, path, json=json_body, params=_clean(params), timeout=limit
            )
        except httpx.HTTPError as e:
            raise self._transport_error(e) from e
        if response.is_error:
            raise error_from_response(response)
        if not response.content:
            return None, response.headers
        try:
            return response.json(), response.headers
        except ValueError as e:
            raise CLIError(
                f"the API answered {method} {path} with something that is not JSON",
                code="bad_response",
            ) from e

    def get_page(self, path: str, *, params: Params | None = None) -> tuple[list[Any], str | None]:
        """One page of a list endpoint and the next page's cursor (None on the last page)."""
        body, headers = self._send("GET", path, params=params)
        if not isinstance(body, list):
            raise CLIError(
                f"the API answered GET {path} with something that is not a list",
                code="bad_response",
            )
        return body, headers.get(NEXT_CURSOR) or None

    def get_all(self, path: str, *, params: Params | None = None) -> list[Any]:
        """Every item of a list endpoint, following `X-Next-Cursor` for at most `MAX_PAGES`."""
        max_pages = MAX_PAGES
        items: list[Any] = []
        cursor: str | None = None
        query: dict[str, str | int | float | bool | None] = {"limit": PAGE_SIZE, **(params or {})}
        for _ in range(max_pages):
            page, cursor = self.get_page(path, params={**query, "cursor": cursor})
            items.extend(page)
            if cursor is None:
                return items
        raise CLIError(
            f"GET {path} still had more after {max_pages} pages ({len(items)} items); "
            "narrow the listing, or use the API's ?cursor= directly",
            code="too_many_pages",
        )

    def get(self, path: str, *, params: Params | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        params: Params | None = None,
        timeout: float | None = None,
    ) -> Any:
        return self.request("POST", path, json_body=body, params=params, timeout=timeout)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json_body=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json_body=body)

    def delete(self, path: str, *, params: Params | None = None) -> Any:
        return self.request("DELETE", path, params=params)

    @contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        content: Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[httpx.Response]:
        """Open a streamed response; an error status is raised before the body is read."""
        try:
            with self._http.stream(
                method,
                path,
                params=_clean(params),
                content=content,
                headers=headers,
                timeout=STREAM_TIMEOUT,
            ) as response:
                if response.is_error:
                    response.read()
                    raise error_from_response(response)
                yield response
        except httpx.HTTPError as e:
            raise self._transport_error(e) from e

    def _transport_error(self, e: httpx.HTTPError) -> CLIError:
        if isinstance(e, httpx.ConnectError):
            return CLIError(
                f"cannot reach the xae API at {self.api_url}; is it running? try `make up`",
                code="unreachable",
            )
        if isinstance(e, httpx.TimeoutException):
            return CLIError(
                f"the xae API at {self.api_url} did not answer in time ({type(e).__name__})",
                code="timeout",
            )
        return CLIError(
            f"talking to the xae API at {self.api_url} failed: {type(e).__name__}: {e}",
            code="transport_error",
        )


def error_from_response(response: httpx.Response) -> CLIError:
    """Map an error response (`{"error": {"code", "message", "details"}}`) to a `CLIError`."""
    status = response.status_code
    code, message, details = f"http_{status}", "", {}
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or code)
        message = str(error.get("message") or "")
        raw_details = error.get("details")
        details = raw_details if isinstance(raw_details, dict) else {}
    elif isinstance(body, dict) and "detail" in body:
        message = str(body["detail"])  # a framework error that bypassed xae's handler
    else:
        message = response.text.strip()[:_MAX_ERROR_TEXT]
    if not message:
        message = f"the API answered HTTP {status} {response.reason_phrase}".rstrip()
    if status == 401:
        return CLIError(
            "not logged in or token expired: run `xae login`",
            code=code if code != f"http_{status}" else "unauthorized",
            details=details,
            status=status,
            api_message=message,
        )
    return CLIError(message, code=code, details=details, status=status, api_message=message)


def _clean(params: Params | None) -> dict[str, str | int | float | bool] | None:
    if params is None:
        return None
    cleaned: dict[str, str | int | float | bool] = {}
    for key, value in params.items():
        if value is None:
            continue
        cleaned[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return cleaned


@dataclass
class Session:
    """Per-invocation state carried in `ctx.obj`: the HTTP client, made on first use."""

    transport: httpx.BaseTransport | None = None
    """Injected by tests (`httpx.MockTransport`); `None` means real network."""

    _client: ApiClient | None = field(default=None, repr=False)

    def client(self, *, api_url: str | None = None, authenticated: bool = True) -> ApiClient:
        """The API client for this run; `api_url`/`authenticated` give a one-off client."""
        if api_url is not None or not authenticated:
            cfg = config.load()
            return ApiClient(
                api_url or cfg.api_url,
                cfg.token if authenticated else None,
                transport=self.transport,
            )
        if self._client is None:
            cfg = config.load()
            self._client = ApiClient(cfg.api_url, cfg.token, transport=self.transport)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def session(ctx: typer.Context) -> Session:
    """The `Session` of this invocation (created by the root callback)."""
    found = ctx.find_object(Session)
    if found is None:
        found = ctx.ensure_object(Session)
    return found


def api(ctx: typer.Context) -> ApiClient:
    return session(ctx).client()
