"""The API's operations as the authorization suites attack them: read from `/openapi.json`,
filled with the names and ids of the team under attack, with a plausible body each.

Shared by the unit suite (`tests/unit/api/test_api_authz.py`, on fakes) and the end-to-end
one (`tests/e2e/test_authz.py`, on a real plane), so both attack the same requests. A new
operation needs nothing here unless it takes a body or a new kind of path parameter: then the
suites fail, naming what to add.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.certmaker import make

PUBLIC_OPERATIONS = {"POST /v1/auth/tokens"}
"""The only operations without a token (logging in); a new public one must be added here."""

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


# -- the operations, from the document ----------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    actions: tuple[str, ...]
    parameters: tuple[tuple[str, str, bool], ...]
    """(name, in, required) for each parameter."""
    has_body: bool

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def writes(self) -> bool:
        return self.method not in SAFE

    @property
    def public(self) -> bool:
        return self.actions == ("public",)


def operations_of(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    actions=tuple(op.get("x-xae-action") or ()),
                    parameters=tuple(
                        (p["name"], p["in"], bool(p.get("required")))
                        for p in op.get("parameters", [])
                    ),
                    has_body="requestBody" in op,
                )
            )
    return found


# -- what to send: the objects a request names, and bodies --------------------------------


@dataclass
class Targets:
    """The names and ids a request is filled with."""

    app: str
    team: str
    user: str
    token_id: int
    version: int
    create_in: str
    """`?team=` of a new app."""
    transfer_to: str
    """`?team=` of a transfer."""
    cert_id: int = 1
    """A certificate of the app (`DELETE .../certs/{cert_id}`)."""
    fresh: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    domain: str = "www.orchard.example"
    """A custom domain of the app (the unit suite's scenario adds it)."""
    cron_job: str = "nightly"
    """A cron job of the app (the unit suite's scenario adds it)."""
    cron_run: int = 1
    """A finished run of that job (the unit suite's scenario starts it)."""

    build_id: int = 1
    """A build of the app (`.../builds/{build_id}`)."""
    hook_id: int = 1
    """A hook of the app (`DELETE .../hooks/{hook_id}`; the unit suite's scenario adds it)."""

    def new_name(self, prefix: str) -> str:
        return f"{prefix}{next(self.fresh)}"


PATH_VALUES: dict[str, Callable[[Targets], str]] = {
    "name": lambda t: t.app,
    "team": lambda t: t.team,
    "user": lambda t: t.user,
    "token_id": lambda t: str(t.token_id),
    "version": lambda t: f"v{t.version}",
    "cert_id": lambda t: str(t.cert_id),
    "domain": lambda t: t.domain,
    "job": lambda t: t.cron_job,
    "run_id": lambda t: str(t.cron_run),
    "build_id": lambda t: str(t.build_id),
    "hook_id": lambda t: str(t.hook_id),
}
"""How each path parameter is filled: a new kind of object needs a line here (the suite fails,
naming it, until it has one)."""

QUERY_VALUES: dict[str, dict[str, Callable[[Targets], str]]] = {
    "POST /v1/apps": {"team": lambda t: t.create_in},
    "POST /v1/apps/{name}/transfer": {"team": lambda t: t.transfer_to},
    "DELETE /v1/apps/{name}": {"confirm": lambda t: t.app},
    "DELETE /v1/apps/{name}/previews": {"branch": lambda t: "feature/x"},
}
"""Query parameters worth sending (required ones must be here)."""


@functools.cache
def certificate_for(host: str) -> dict[str, str]:
    """A self-signed certificate for `host` (the unit suite's base domain is `localhost`), as
    `POST /v1/apps/{name}/certs` takes it."""
    made = make(host, names=[host])
    return {"chain": made.cert_pem, "key": made.key_pem}


Body = dict[str, Any] | bytes

BODIES: dict[str, Callable[[Targets], Body]] = {
    "POST /v1/auth/tokens": lambda t: {"username": "bob", "password": "not-the-password"},
    "POST /v1/apps": lambda t: {"name": t.new_name("new-app-")},
    "PATCH /v1/apps/{name}": lambda t: {"health_path": "/up", "health_attempts": 5},
    "POST /v1/apps/{name}/deploys": lambda t: b"not a tarball",
    "POST /v1/apps/{name}/deploys/image": lambda t: {"image": "img:1"},
    "POST /v1/apps/{name}/rollback": lambda t: {"version": 1},
    "PATCH /v1/apps/{name}/config": lambda t: {"ADDED": "by-someone", "GREETING": None},
    "PATCH /v1/apps/{name}/formation": lambda t: {"updates": [{"type": "web", "quantity": 3}]},
    "POST /v1/apps/{name}/restart": lambda t: {},
    "POST /v1/apps/{name}/domains": lambda t: {"hostname": f"{t.new_name('www')}.example.org"},
    "POST /v1/teams": lambda t: {"name": t.new_name("team-")},
    "PUT /v1/teams/{team}/members/{user}": lambda t: {"role": "viewer"},
    "POST /v1/users": lambda t: {"name": t.new_name("user"), "password": "long-enough-pw"},
    "POST /v1/tokens": lambda t: {"name": t.new_name("tok"), "scope": "read", "app": t.app},
    "POST /v1/apps/{name}/certs": lambda t: certificate_for(f"{t.app}.localhost"),
    "POST /v1/apps/{name}/cron": lambda t: {
        "name": t.new_name("job-"),
        "schedule": "30 2 * * *",
        "command": "python backup.py",
    },
    "POST /v1/apps/{name}/hooks": lambda t: {"url": "https://1.1.1.1/hook", "events": ["build"]},
    "PUT /v1/apps/{name}/git/branch": lambda t: {"branch": "release"},
    "PUT /v1/apps/{name}/split": lambda t: {
        "releases": [{"version": 1, "weight": 90}, {"version": 2, "weight": 10}]
    },
    "PATCH /v1/apps/{name}/previews": lambda t: {"enabled": True, "idle_seconds": 3600},
    "POST /v1/apps/{name}/previews": lambda t: {"branch": "feature/x"},
}
"""A plausible body for each operation that takes one (keyed `METHOD /path`). An operation
with a request body and no entry here fails the suite: say what a caller would send."""

NOT_2XX_WHEN_ALLOWED = {
    "DELETE /v1/teams/{team}": 422,  # the team still has its app: refused after the guard
    "POST /v1/apps/{name}/certs/auto": 422,  # no ACME CA configured: refused after the guard
    "POST /v1/apps/{name}/builds/{build_id}/cancel": 409,  # the build is over: after the guard
    "POST /v1/apps/{name}/previews": 422,  # previews are off for the app: refused after the guard
}


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    params: dict[str, str]
    body: Body | None


def request_for(op: Operation, t: Targets) -> Request:
    url = op.path
    params: dict[str, str] = {}
    for name, where, required in op.parameters:
        if where == "path":
            if name not in PATH_VALUES:
                pytest.fail(f"{op.key}: path parameter {name!r} is new here: add it to PATH_VALUES")
            url = url.replace("{" + name + "}", PATH_VALUES[name](t))
        elif name in QUERY_VALUES.get(op.key, {}):
            params[name] = QUERY_VALUES[op.key][name](t)
        elif required:
            pytest.fail(f"{op.key}: required {where} parameter {name!r}: add it to QUERY_VALUES")
    if op.has_body and op.key not in BODIES:
        pytest.fail(f"{op.key} takes a body the suite does not know: add one to BODIES")
    body = BODIES[op.key](t) if op.key in BODIES else None
    return Request(op.method, url, params, body)


def send(client: Any, request: Request) -> Any:
    """Send `request` with `client`: an `httpx.Client`, or Starlette's test client."""
    kwargs: dict[str, Any] = {"params": request.params}
    if isinstance(request.body, bytes):
        kwargs |= {"content": request.body, "headers": {"Content-Type": "application/gzip"}}
    elif request.body is not None:
        kwargs["json"] = request.body
    return client.request(request.method, request.url, **kwargs)


def names_team_a(op: Operation) -> bool:
    """Whether a request for `op` names one of team A's objects (path, `?team=`, body app)."""
    return any(where == "path" for _, where, _ in op.parameters) or op.key in (
        *QUERY_VALUES,
        "POST /v1/tokens",
    )
