"""A fake xae API for CLI unit tests: canned responses behind `httpx.MockTransport`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeApi:
    """Routes `(METHOD, path)` to canned responses and records every request it saw."""

    routes: dict[tuple[str, str], Handler | httpx.Response] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, response: Handler | httpx.Response) -> None:
        self.routes[(method, path)] = response

    def json(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.on(method, path, httpx.Response(status, json=body))

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return httpx.Response(
                404, json={"error": {"code": "not_found", "message": "no such route"}}
            )
        return route(request) if callable(route) else route

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_json(self) -> Any:
        return json.loads(self.last.content)
