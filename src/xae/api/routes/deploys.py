"""Deploys: upload a source tarball, or name a ready-made image; progress streams back as NDJSON.

The upload is spooled to disk (bounded by `max_upload_bytes`) before anything is built, so a
cut connection never leaves a half-built release. An image deploy's reference, port and command
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
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from xae.api.deps import PlatformDep, UserDep
from xae.api.responses import errors
from xae.api.routes.views import load_app, release_public
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


@router.post(
    "/{name}/deploys", response_class=StreamingResponse, responses=_EVENTS | errors(413)
)
async def deploy(name: str, request: Request, p: PlatformDep, user: UserDep) -> StreamingResponse:
    with p.db.session() as session:
        load_app(session, user, name)
    limit = p.settings.max_upload_bytes
    p.settings.builds_dir.mkdir(parents=True, exist_ok=True)
    # Closed (and so deleted) by the pipeline thread, or below when the upload is refused.
    spool = tempfile.TemporaryFile(dir=p.settings.builds_dir)  # noqa: SIM115
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            spool.close()
            raise UploadTooLarge(
                f"the upload is larger than {limit} bytes: exclude build output and "
                "dependencies with .xaeignore, or raise XAE_MAX_UPLOAD_BYTES"
            )
        spool.write(chunk)
    spool.seek(0)

    pipeline = DeployPipeline(p)
    return _stream(p, name, lambda emit: pipeline.run(user, name, spool, emit), spool.close)


@router.post("/{name}/deploys/image", response_class=StreamingResponse, responses=_EVENTS)
def deploy_image(
    name: str, body: ImageDeploy, p: PlatformDep, user: UserDep
) -> StreamingResponse:
    with p.db.session() as session:
        app = load_app(session, user, name)
        image, port = validate_image_ref(body.image), validate_port(body.port)
        command = validate_command(body.command)
        image = vet_image(session, p.settings, name, app.id, image)
    pipeline = DeployPipeline(p)
    return _stream(
        p, name, lambda emit: pipeline.run_image(user, name, image, port, command, emit)
    )


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
