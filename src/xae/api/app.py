"""The FastAPI application: routers, error mapping, and the platform it serves."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from xae.api import errors
from xae.api.guards import PUBLIC, Guard, route_guards
from xae.api.limits import BodyLimit, RateLimit
from xae.api.responses import AUTHENTICATED
from xae.api.responses import errors as error_responses
from xae.api.routes import (
    apps,
    audit,
    auth,
    builds,
    certs,
    cron,
    deploys,
    domains,
    formation,
    gc,
    git,
    hooks,
    logs,
    previews,
    releases,
    splits,
    status,
    teams,
    tokens,
    users,
)
from xae.auth.ratelimit import RateLimiter, RateLimits
from xae.auth.throttle import LoginThrottle, ThrottleLimits
from xae.control.platform import Platform
from xae.control.reconciler import Reconciler


def create_app(platform: Platform, reconciler: Reconciler | None = None) -> FastAPI:
    app = FastAPI(
        title="xae",
        version="0.1.0",
        description="The xae App Engine API. Every call but `POST /v1/auth/tokens` and "
        "`GET /healthz` needs `Authorization: Bearer <token>` (`xae login`).",
    )
    app.state.platform = platform
    app.state.reconciler = reconciler
    settings = platform.settings
    app.state.login_throttle = LoginThrottle(
        ThrottleLimits(
            per_account=settings.login_failures_per_account,
            per_address=settings.login_failures_per_address,
            window=settings.login_window_seconds,
        )
    )
    errors.install(app)
    # The last added runs first: a caller over its rate is refused before its body is read.
    app.add_middleware(BodyLimit, max_bytes=settings.max_json_body)
    app.state.rate_limiter = RateLimiter(
        RateLimits(rate=settings.api_rate, burst=settings.api_burst)
    )
    app.add_middleware(RateLimit, limiter=app.state.rate_limiter)
    include(app, auth.router, responses=error_responses(400, 401, 413, 422, 429))
    for module in (status, apps, deploys, releases, formation, logs, teams, users, tokens, audit):
        include(app, module.router, responses=AUTHENTICATED)
    include(app, certs.router, responses=AUTHENTICATED)
    include(app, certs.challenges)
    include(app, domains.router, responses=AUTHENTICATED)
    include(app, splits.router, responses=AUTHENTICATED)
    include(app, cron.router, responses=AUTHENTICATED)
    include(app, builds.router, responses=AUTHENTICATED)
    include(app, hooks.router, responses=AUTHENTICATED)

    include(app, git.router)
    include(app, git.info_router, responses=AUTHENTICATED)

    include(app, gc.router, responses=AUTHENTICATED)
    include(app, previews.router, responses=AUTHENTICATED)

    @app.get("/healthz", include_in_schema=False, dependencies=[PUBLIC])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    declare_actions(app.routes)
    if _document.schema is None:
        check_declared(app)
        _document.schema = app.openapi_schema
    app.openapi_schema = copy.deepcopy(_document.schema)  # each app may change its own
    return app


class _Document:
    """The OpenAPI document of the API `create_app` builds, checked by `check_declared` once
    per process: it is made of the same module-level routers every time, and building it takes
    about a second (a cost every API test would pay again)."""

    schema: dict[str, Any] | None = None


_document = _Document()


def include(app: FastAPI, router: APIRouter, **options: object) -> None:
    """Include `router`, its routes' actions declared first: FastAPI (0.165 and later) keeps an
    included router's routes behind a wrapper that `app.routes` does not open, and builds the
    routes it serves and documents from the originals as they are when first used."""
    declare_actions(router.routes)
    app.include_router(router, **options)  # type: ignore[arg-type]


class UnguardedRoute(RuntimeError):
    """A route that declares no action: it would skip authorization, so xae does not start."""


def declare_actions(routes: Iterable[BaseRoute]) -> None:
    """Check that every route declares what it does (`xae.api.guards`) and publish it in the
    OpenAPI document as `x-xae-action` (a list: moving an app is checked on the app and on the
    team it moves to)."""
    for route in routes:
        if not isinstance(route, APIRoute):
            continue  # the OpenAPI document and docs pages; included routers (see `include`)
        guards: list[Guard] = route_guards(route)
        if not guards:
            raise UnguardedRoute(
                f"{sorted(route.methods or ())} {route.path} declares no action: take the app or "
                "team through a guard of xae.api.guards (AppRead, TeamManage, Self, ...), or "
                "mark it public with dependencies=[PUBLIC]"
            )
        actions = sorted({str(g.action) if g.action else "public" for g in guards})
        route.openapi_extra = {**(route.openapi_extra or {}), "x-xae-action": actions}


def check_declared(app: FastAPI) -> None:
    """Every operation of the OpenAPI document carries its action: a router included without
    `include` (so without the check above) stops xae from starting."""
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            if not operation.get("x-xae-action"):
                raise UnguardedRoute(
                    f"{method.upper()} {path} declares no action: include its router with "
                    "xae.api.app.include, which checks every route's guard"
                )
