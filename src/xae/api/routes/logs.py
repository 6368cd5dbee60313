"""Logs: the app's output, merged across instances, optionally followed live."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from xae.api.deps import PlatformDep
from xae.api.guards import AppLogs
from xae.domain.names import validate_process_type
from xae.logs.stream import app_logs

router = APIRouter(prefix="/v1/apps", tags=["logs"])


@router.get(
    "/{name}/logs",
    response_class=StreamingResponse,
    responses={200: {"description": "Log lines", "content": {"text/plain": {}}}},
)
def logs(
    app: AppLogs,
    p: PlatformDep,
    follow: bool = False,
    process: str | None = None,
    tail: int = 100,
) -> StreamingResponse:
    if process is not None:
        validate_process_type(process)
    lines = app_logs(
        p.backend, app.name, process=process, tail=max(0, min(tail, 10_000)), follow=follow
    )

    def body() -> Iterator[bytes]:
        for line in lines:
            yield (line + "\n").encode() if line else b""

    return StreamingResponse(body(), media_type="text/plain; charset=utf-8")
