"""The deploy pipeline: uploaded source → build → release → health-gated rollout.

Each step reports progress as events (`step`, `log`, `done`, `error`) that the API streams to
the CLI as they happen. A failure at any step leaves the current release serving: a failed
build creates no release; a release whose rollout fails is recorded as failed and never
becomes current.

The Code Center is the build service: it owns a build's row from `running` to `succeeded` or
`failed` (with its audit event) and hands the finished build to Platform Control
(`xae.control.releases.release_build`), which makes the release, the formation and the rollout.

An image deploy (`run_image`) skips the build: the user's image reference is recorded as a
succeeded build of stack `image` and released the same way a built one is. It never touches
Docker here: the runtime pulls or finds the image when it starts the instances (and, on docker,
reads who it runs as: `IMAGE_USER`). The reference
passes `xae.codecenter.image_policy` first: an app runs only its own builds or images from a
registry outside the platform.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import docker
from sqlalchemy.orm import Session

from xae.auth.policy import Principal, app_not_found
from xae.builder.build import build_image
from xae.builder.registry import push_image
from xae.builder.upload import extract_upload
from xae.codecenter.image_policy import vet_image
from xae.control.audit import record
from xae.control.platform import Platform
from xae.control.releases import release_build
from xae.domain.deploy_events import Emit, LogLine, Step
from xae.domain.images import IMAGE_STACK, validate_command, validate_image_ref, validate_port
from xae.domain.policy import LOG_TAIL
from xae.domain.runas import IMAGE_USER
from xae.domain.states import BuildStatus
from xae.domain.terminal import strip_escapes
from xae.errors import BuildFailed, XaeError
from xae.runtime.base import Progress
from xae.store.models import App, Build, utcnow


@dataclass(frozen=True)
class FinishedBuild:
    """What a succeeded build leaves behind: the image to run and how to run it."""

    stack: str
    image: str
    port: int | None
    processes: dict[str, str]
    log: str
    run_as: str | None = None
    """Who the image runs as (`xae.domain.runas`; `IMAGE_USER` for an image deployed as is)."""


class DeployPipeline:
    def __init__(self, platform: Platform) -> None:
        self.p = platform

    @property
    def docker(self) -> docker.DockerClient:
        """The process's one Docker client (`Platform.docker`), connected on first use."""
        return self.p.docker.client()

    def run(self, user: Principal, app: App, upload: BinaryIO, emit: Emit) -> None:
        """Deploy `upload` (a tar or tar.gz of the app's source) to `app` (the row the API
        loaded and authorized: only its id and name are read)."""
        settings, name = self.p.settings, app.name
        with self.p.db.session() as session:
            _check_present(session, app)
            build = Build(app_id=app.id, status=BuildStatus.RUNNING)
            session.add(build)
            session.flush()
            build_id = build.id
        lines: list[str] = []

        def log(line: str) -> None:
            # pip's and npm's colours and progress redraws: the text is kept, not the escapes.
            line = strip_escapes(line)
            lines.append(line)
            emit(LogLine(line))

        workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self._builds_root(name)))
        try:
            emit(Step("unpacking source"))
            src = workdir / "src"
            src.mkdir()
            extract_upload(
                upload,
                src,
                max_bytes=settings.max_upload_bytes,
                max_entries=settings.max_upload_entries,
            )
            emit(Step("building image"))
            built = build_image(
                self.docker, src, app=name, tag=self._tag(build_id), settings=settings, log=log
            )
            image = built.ref
            if settings.registry:
                emit(Step(f"pushing the image to {settings.registry}"))
                image = push_image(self.docker, built.ref, settings.registry, log)
        except XaeError as e:
            self._fail_build(build_id, lines, user, name, e)
            raise
        finally:
            if workdir.exists():  # destroying the app during its build removed it already
                shutil.rmtree(workdir)

        finished = FinishedBuild(
            stack=built.stack,
            image=image,
            port=built.port,
            processes=dict(built.processes),
            log="\n".join(lines[-2000:]),
            run_as=built.run_as,
        )
        self._succeed_build(user, app, finished, build_id=build_id)
        description = f"Deploy build {build_id} ({built.stack})"
        release_build(self.p, user.name, name, build_id, description, _steps(emit))

    def run_image(
        self, user: Principal, app: App, image: str, port: int, command: str, emit: Emit
    ) -> None:
        """Deploy the ready-made `image` to `app`: its `web` process runs `command` (empty:
        the image's own CMD) and listens on `port`. `image` must be one of the app's own builds
        or come from a registry outside the platform (`ImageNotAllowed`, `RegistryNotAllowed`)."""
        name = app.name
        image, port = validate_image_ref(image), validate_port(port)
        command = validate_command(command)
        with self.p.db.session() as session:
            image = vet_image(session, self.p.settings, name, app.id, image)
        runs = f"`{command}`" if command else "the image's CMD"
        emit(Step(f"using image {image} as is (no build): web runs {runs} on port {port}"))
        finished = FinishedBuild(
            stack=IMAGE_STACK,
            image=image,
            port=port,
            processes={"web": command},
            log=f"deployed from image {image}",
            run_as=IMAGE_USER,
        )
        build_id = self._succeed_build(user, app, finished)
        release_build(
            self.p, user.name, name, build_id, f"Deploy image {image}"[:256], _steps(emit)
        )

    def _succeed_build(
        self, user: Principal, app: App, finished: FinishedBuild, *, build_id: int | None = None
    ) -> int:
        """Record `finished` as a succeeded build of `app` (row `build_id`, or a new row for
        an image deploy) with its audit event; returns the row's id."""
        name = app.name
        with self.p.db.session() as session:
            if build_id is None:
                _check_present(session, app)
                row = Build(app_id=app.id)
                session.add(row)
            else:
                found = session.get(Build, build_id)
                if found is None:
                    # Destroying the app removed its builds while this one ran.
                    raise app_not_found(name)
                row = found
            row.status, row.finished_at = BuildStatus.SUCCEEDED, utcnow()
            row.stack, row.image, row.port = finished.stack, finished.image, finished.port
            row.processes = dict(finished.processes)
            row.run_as = finished.run_as
            row.log = finished.log
            session.flush()
            record(
                session,
                user,
                "build",
                name,
                app=name,
                details={"build": row.id, "stack": finished.stack, "image": finished.image},
            )
            return row.id

    def _tag(self, build_id: int) -> str:
        plane = self.p.settings.plane
        return f"b{build_id}" if plane == "default" else f"{plane}-b{build_id}"

    def _builds_root(self, name: str) -> Path:
        root = self.p.settings.builds_dir / name
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _fail_build(
        self, build_id: int, lines: list[str], user: Principal, name: str, error: XaeError
    ) -> None:
        """Record build `build_id` as failed, with its log and audit event."""
        with self.p.db.session() as session:
            build = session.get(Build, build_id)
            if build is not None:
                build.status, build.finished_at = BuildStatus.FAILED, utcnow()
                build.log = "\n".join(lines[-2000:])
            record(
                session,
                user,
                "build",
                name,
                app=name,
                result="failed",
                details={"build": build_id, "error": error.message[:500]},
            )
        if isinstance(error, BuildFailed) and "log_tail" not in error.details:
            error.details["log_tail"] = lines[-LOG_TAIL:]


def _steps(emit: Emit) -> Progress:
    """Progress messages as the `step` events the CLI shows."""
    return lambda message: emit(Step(message))


def _check_present(session: Session, app: App) -> None:
    """Raise the app's not-found answer if `app` (loaded earlier, by the API) was destroyed
    since: by id, so an app recreated under the same name is not mistaken for it."""
    if session.get(App, app.id) is None:
        raise app_not_found(app.name)
