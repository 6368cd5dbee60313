"""The error answers each route may give, as the OpenAPI document declares them.

`xae.api.errors` turns every error into one body (`ErrorBody`); this module tells clients (and
schema-driven testers) which statuses carry it, so the document describes what the API does.
"""

from __future__ import annotations

from typing import Any

from xae.api.schemas import ErrorBody

_WHY = {
    400: "The body is not JSON (or not UTF-8)",
    401: "No token, or one that is not valid (run `xae login`)",
    403: "The token's user may not do this",
    404: "No such app (or one of another user's), release or process type",
    409: "The name is taken, or the change conflicts with the app's state",
    413: "The request body (or a deploy's upload) is larger than the server accepts",
    422: "The request is not valid; the message says what to fix",
    429: "Too many requests or attempts; wait as long as `Retry-After` says and try again",
    502: "The container engine or cluster failed to do it",
    503: "The container engine or cluster cannot be reached",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: each status with the error body."""
    return {s: {"model": ErrorBody, "description": _WHY[s]} for s in statuses}


AUTHENTICATED = errors(400, 401, 403, 404, 413, 422, 429, 502, 503)
"""What any call with a token may answer besides success (413 and 429: `xae.api.limits`)."""
