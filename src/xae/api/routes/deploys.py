"""Deploys: upload a source tarball, or name a ready-made image; progress streams back as NDJSON.

The upload is spooled to disk (bounded by `max_upload_bytes`) before anything is built, so a
cut connection never leaves a half-built release. The spool's file writes run in the thread
pool: the upload handler is `async` (it reads the body as it arrives) and must never block the
event loop every other request is served from. An image deploy's reference, port and command
are checked before the stream starts, so a typo, another app's image or a registry inside the
platform is an HTTP error with a stable code rather than an `error` event.
Either way the pipeline runs in its own thread: the events it emits are streamed as they
happen, one JSON object per line.
"""

from __future__ import annotations

import logging
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from xae.api.deps import PlatformDep
from xae.api.guards import AppDeploy, Self
from xae.api.responses import errors
from xae.api.routes.views import release_public
from xae.api.schemas import ImageDeploy
from xae.codecenter.deploy import DeployPipeline
from xae.codecenter.image_policy import vet_image
from xae.control.apps import get_app
from xae.control.formation import formations, process_types
from xae.control.platform import Platform
from xae.domain.deploy_events import DeployEvent, Done, Emit, Failed
from xae.domain.images import validate_command, validate_image_ref, validate_port
from xae.domain.streams import EOS, EndOfStream
from xae.errors import UploadTooLarge, XaeError

router = APIRouter(prefix="/v1/apps", tags=["deploys"])
_EVENTS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Progress events, one JSON object per line, ending with `done` or `error`",
        "content": {"application/x-ndjson": {}},
    }
}
log = logging.getLogger("xae.api.deploys")
_SPOOL_WRITE = 1 << 20
"""Bytes gathered from the body before one write to the spool (one hop to the thread pool)."""


@router.post("/{name}/deploys", response_class=StreamingResponse, responses=_EVENTS | errors(413))
async def deploy(app: AppDeploy, request: Request, p: PlatformDep, user: Self) -> StreamingResponse:
    name = app.name
    limit = p.settings.max_upload_bytes
    spool = await run_in_threadpool(_open_spool, p)
    # Closed (and so deleted) by the pipeline thread, or below when the upload is refused.
    try:
        size = 0
        pending: list[bytes] = []
        pending_size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise UploadTooLarge(
                    f"the upload is larger than {limit} bytes: exclude build output and "
                    "dependencies with .xaeignore, or raise XAE_MAX_UPLOAD_BYTES"
                )
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= _SPOOL_WRITE:
                await run_in_threadpool(spool.write, b"".join(pending))
                pending, pending_size = [], 0
        await run_in_threadpool(_finish_spool, spool, b"".join(pending))
    except BaseException:
        # Closed here, not in the pool: on a cut connection (a cancellation) an await would not
        # run. Closing a temporary file that is already unlinked only frees its descriptor.
        spool.close()
        raise

    pipeline = DeployPipeline(p)
    return _stream(p, name, lambda emit: pipeline.run(user, app, spool, emit), spool.close)


def _open_spool(p: Platform) -> BinaryIO:
    p.settings.builds_dir.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryFile(dir=p.settings.builds_dir)  # noqa: SIM115


def _finish_spool(spool: BinaryIO, rest: bytes) -> None:
    spool.write(rest)
    spool.seek(0)


@router.post("/{name}/deploys/image", response_class=StreamingResponse, responses=_EVENTS)
def deploy_image(
    app: AppDeploy, body: ImageDeploy, p: PlatformDep, user: Self
) -> StreamingResponse:
    name = app.name
    image, port = validate_image_ref(body.image), validate_port(body.port)
    command = validate_command(body.command)
    with p.db.session() as session:
        image = vet_image(session, p.settings, name, app.id, image)
    pipeline = DeployPipeline(p)
    return _stream(p, name, lambda emit: pipeline.run_image(user, app, image, port, command, emit))


def _nothing() -> None:
    return None


def _stream(
    p: Platform, name: str, run: Callable[[Emit], None], cleanup: Callable[[], None] = _nothing
) -> StreamingResponse:
    """Run one deploy in its own thread and stream its events, then `done` or `error`."""
    events: queue.Queue[DeployEvent | EndOfStream] = queue.Queue()

    def work() -> None:
        try:
            run(events.put)
            with p.db.session() as session:
                app = get_app(session, name)
                release = app.current_release
                # What runs now, so a client says "serving at URL" only when a web process does.
                quantities = {f.process_type: f.quantity for f in formations(session, app)}
                done = Done(
                    url=p.url_for(name),
                    release=(
                        release_public(session, release).model_dump(mode="json")
                        if release is not None
                        else None
                    ),
                    processes={
                        ptype: quantities.get(ptype, 0)
                        for ptype in sorted(process_types(session, app))
                    },
                )
            events.put(done)
        except XaeError as e:
            events.put(Failed.of(e))
        except Exception:
            log.exception("deploy of %s failed unexpectedly", name)
            events.put(
                Failed(
                    code="internal_error",
                    message="the deploy hit an unexpected error; the server log has details",
                )
            )
        finally:
            cleanup()
            events.put(EOS)

    threading.Thread(target=work, name=f"deploy-{name}", daemon=True).start()

    def stream() -> Iterator[bytes]:
        while True:
            item = events.get()
            if item is EOS:
                return
            yield (item.to_json() + "\n").encode()

    return StreamingResponse(stream(), media_type="application/x-ndjson")
