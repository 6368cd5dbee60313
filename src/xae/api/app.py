"""The FastAPI application: routers, error mapping, and the platform it serves."""

from __future__ import annotations

from fastapi import FastAPI

from xae.api import errors
from xae.api.limits import BodyLimit, RateLimit
from xae.api.responses import AUTHENTICATED
from xae.api.responses import errors as error_responses
from xae.api.routes import apps, auth, deploys, formation, logs, releases, status
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
    app.include_router(auth.router, responses=error_responses(400, 401, 413, 422, 429))
    for module in (status, apps, deploys, releases, formation, logs):
        app.include_router(module.router, responses=AUTHENTICATED)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
