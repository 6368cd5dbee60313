"""The deploy pipeline: uploaded source → build → release → health-gated rollout.

Each step reports progress as events (`step`, `log`, `done`, `error`) that the API streams to
the CLI as they happen. A failure at any step leaves the current release serving: a failed
build creates no release; a release whose rollout fails is recorded as failed and never
becomes current.

The Code Center is the build service: it owns a build's row from `queued` (the moment the
deploy asks) through `running` to `succeeded`, `failed`, `cancelled` or `timed_out` (with its
audit event), and hands the finished build to Platform Control
(`xae.control.releases.release_build`), which makes the release, the formation and the rollout.
Every deploy first takes its turn in the build queue (`xae.codecenter.queue`): at most
`build_concurrency` builds at once, and a deploy of an app waits for the app's previous deploy
to finish its build *and* its rollout, so two deploys of one app never race. The ticket is
given back in a `finally`, whatever happens. Build and deploy outcomes are published to the
app's hooks (`xae.codecenter.notify`), in the background: a receiver never slows or fails a
deploy.

An image deploy (`run_image`) skips the build: the user's image reference is recorded as a
succeeded build of stack `image` and released the same way a built one is. It never touches
Docker here: the runtime pulls or finds the image when it starts the instances (and, on docker,
reads who it runs as: `IMAGE_USER`). The reference
passes `xae.codecenter.image_policy` first: an app runs only its own builds or images from a
registry outside the platform.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import docker
import docker.errors
from sqlalchemy.orm import Session

from xae.auth.policy import Principal, app_not_found
from xae.builder.build import build_image
from xae.builder.registry import push_image
from xae.builder.upload import extract_upload
from xae.codecenter.builds import BuildService, build_service, prune_logs
from xae.codecenter.image_policy import vet_image
from xae.codecenter.queue import Ticket
from xae.control.audit import record
from xae.control.gc import collect_after_deploy
from xae.control.manifests import store_manifest
from xae.control.platform import Platform
from xae.control.releases import release_build
from xae.domain.builds import UPLOAD, BuildSource
from xae.domain.deploy_events import Emit, LogLine, Step
from xae.domain.images import (
    IMAGE_STACK,
    build_tag,
    validate_command,
    validate_image_ref,
    validate_port,
)
from xae.domain.policy import LOG_TAIL
from xae.domain.runas import IMAGE_USER
from xae.domain.states import BuildStatus
from xae.domain.terminal import strip_escapes
from xae.errors import BuildCancelled, BuildFailed, BuildTimedOut, XaeError
from xae.runtime.base import Progress
from xae.store.models import App, Build, utcnow

_log = logging.getLogger("xae.codecenter.deploy")


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
    manifest: dict[str, Any] | None = None
    """The app's manifest (`xae.domain.manifest`), as JSON; None without one."""


class DeployPipeline:
    def __init__(self, platform: Platform) -> None:
        self.p = platform

    @property
    def docker(self) -> docker.DockerClient:
        """The process's one Docker client (`Platform.docker`), connected on first use."""
        return self.p.docker.client()

    @property
    def service(self) -> BuildService:
        """The control plane's build queue and notifier (shared by every pipeline)."""
        return build_service(self.p)

    def run(
        self,
        user: Principal,
        app: App,
        upload: BinaryIO,
        emit: Emit,
        *,
        source: BuildSource = UPLOAD,
        on_serving: Callable[[int], None] | None = None,
    ) -> None:
        """Deploy `upload` (a tar or tar.gz of the app's source) to `app` (the row the API
        loaded and authorized: only its id and name are read). `source` says where the tree
        came from (a git push names its commit, which the release's description records).
        `on_serving(version)` is called as soon as the new release is current and serves,
        before the old instances are drained and the app's old images collected
        (`release_build`); this returns after those. The app's next deploy may start its build
        from then on (its rollout still waits for the drain: the app's lock)."""
        settings, name = self.p.settings, app.name
        build_id = self._queue_row(user, app, source)
        ticket = self.service.queue.submit(name, build_id)
        serving = None
        if on_serving is not None:
            answer = on_serving

            def serving(version: int) -> None:
                self.service.queue.finish(ticket)  # built and rolled out: the app's turn ends
                answer(version)

        try:
            self._deploy_source(user, app, upload, emit, source, ticket, serving)
        finally:
            self.service.queue.finish(ticket)
            with self.p.db.session() as session:
                prune_logs(session, app.id, settings.build_logs_kept)

    def _deploy_source(
        self,
        user: Principal,
        app: App,
        upload: BinaryIO,
        emit: Emit,
        source: BuildSource,
        ticket: Ticket,
        on_serving: Callable[[int], None] | None = None,
    ) -> None:
        settings, name, build_id = self.p.settings, app.name, ticket.build_id
        with self.p.db.session() as session:
            row = session.get(App, app.id)
            dockerfile_path = row.dockerfile if row is not None else None
        lines: list[str] = []

        def log(line: str) -> None:
            # pip's and npm's colours and progress redraws: the text is kept, not the escapes.
            line = strip_escapes(line)
            lines.append(line)
            emit(LogLine(line))

        workdir: Path | None = None
        try:
            self._take_turn(ticket, emit)
            workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self._builds_root(name)))
            emit(Step("unpacking source"))
            src = workdir / "src"
            src.mkdir()
            extract_upload(
                upload,
                src,
                max_bytes=settings.max_upload_bytes,
                max_entries=settings.max_upload_entries,
            )
            if ticket.cancellation.cancelled:
                raise BuildCancelled(f"build {build_id} of {name} was cancelled before it built")
            emit(Step("building image"))
            built = build_image(
                self.docker,
                src,
                app=name,
                tag=build_tag(self.p.settings.plane, build_id),
                settings=settings,
                log=log,
                cancel=ticket.cancellation,
                dockerfile_path=dockerfile_path,
            )
            if ticket.cancellation.close():  # a cancel that came as the build ended still wins
                self._untag(built.ref)
                raise BuildCancelled(f"build {build_id} of {name} was cancelled as it finished")
            image = built.ref
            if settings.registry:
                emit(Step(f"pushing the image to {settings.registry}"))
                image = push_image(self.docker, built.ref, settings.registry, log)
        except XaeError as e:
            self._fail_build(build_id, lines, user, app, e)
            raise
        finally:
            self.service.queue.built(ticket)
            if workdir is not None and workdir.exists():  # destroying the app removed it already
                shutil.rmtree(workdir)

        finished = FinishedBuild(
            stack=built.stack,
            image=image,
            port=built.port,
            processes=dict(built.processes),
            log="\n".join(lines[-2000:]),
            run_as=built.run_as,
            manifest=built.manifest,
        )
        self._succeed_build(user, app, finished, build_id=build_id)
        description = source.describe(build_id, built.stack)
        self._release(user, app, build_id, description, emit, on_serving)
        collect_after_deploy(self.p, name)  # the app's images beyond the kept releases

    def run_image(
        self, user: Principal, app: App, image: str, port: int, command: str, emit: Emit
    ) -> None:
        """Deploy the ready-made `image` to `app`: its `web` process runs `command` (empty:
        the image's own CMD) and listens on `port`. `image` must be one of the app's own builds
        or come from a registry outside the platform (`ImageNotAllowed`, `RegistryNotAllowed`).
        It needs no build slot, only its turn among the app's deploys."""
        name = app.name
        image, port = validate_image_ref(image), validate_port(port)
        command = validate_command(command)
        with self.p.db.session() as session:
            image = vet_image(session, self.p.settings, name, app.id, image)
        build_id = self._queue_row(user, app, BuildSource(kind="image"))
        ticket = self.service.queue.submit(name, build_id, needs_slot=False)
        try:
            try:
                self._take_turn(ticket, emit)
            except XaeError as e:
                self._fail_build(build_id, [], user, app, e)
                raise
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
            self._succeed_build(user, app, finished, build_id=build_id)
            self._release(user, app, build_id, f"Deploy image {image}"[:256], emit)
        finally:
            self.service.queue.finish(ticket)

    def _queue_row(self, user: Principal, app: App, source: BuildSource) -> int:
        """The build's row, `queued`, from the moment the deploy asks (so `xae builds` shows
        it waiting); its id."""
        with self.p.db.session() as session:
            _check_present(session, app)
            build = Build(
                app_id=app.id,
                status=BuildStatus.QUEUED,
                queued_at=utcnow(),
                source_kind=source.kind,
                commit_sha=source.commit,
                commit_message=_subject(source.message),
                branch=source.branch,
                started_by=user.name,
            )
            session.add(build)
            session.flush()
            return build.id

    def _take_turn(self, ticket: Ticket, emit: Emit) -> None:
        """Wait in the queue (saying so), then mark the build `running`."""
        self.service.queue.wait(ticket, lambda message: emit(Step(message)))
        with self.p.db.session() as session:
            row = session.get(Build, ticket.build_id)
            if row is None:
                raise app_not_found(ticket.app)  # destroyed while its deploy waited
            row.status, row.started_at = BuildStatus.RUNNING, utcnow()

    def _release(
        self,
        user: Principal,
        app: App,
        build_id: int,
        description: str,
        emit: Emit,
        on_serving: Callable[[int], None] | None = None,
    ) -> None:
        """Release the succeeded build and publish the deploy's outcome."""
        try:
            version = release_build(
                self.p,
                user.name,
                app.name,
                build_id,
                description,
                _steps(emit),
                _log_lines(emit),
                on_serving=on_serving,
            )
        except XaeError as e:
            self._publish(app, "deploy", "deploy.failed", build_id, error=e.message)
            raise
        self._publish(app, "deploy", "deploy.succeeded", build_id, version=version)

    def _publish(
        self,
        app: App,
        kind: str,
        event: str,
        build_id: int,
        *,
        version: int | None = None,
        error: str | None = None,
    ) -> None:
        with self.p.db.session() as session:
            row = session.get(Build, build_id)
            if row is None:
                return  # the app is gone: so are its hooks
            payload: dict[str, Any] = {
                "app": app.name,
                "url": self.p.url_for(app.name),
                "build": {
                    "id": row.id,
                    "status": str(row.status),
                    "stack": row.stack,
                    "source": row.source_kind,
                    "commit": row.commit_sha,
                    "message": row.commit_message,
                    "branch": row.branch,
                    "started_by": row.started_by,
                },
                "at": utcnow().isoformat() + "Z",
            }
        if version is not None:
            payload["release"] = {"version": version}
        if error is not None:
            payload["error"] = error[:500]
        self.service.notifier.publish(app.id, kind, event, payload)

    def _succeed_build(
        self, user: Principal, app: App, finished: FinishedBuild, *, build_id: int
    ) -> int:
        """Record `finished` as the succeeded build `build_id` of `app` with its audit event;
        returns the row's id."""
        name = app.name
        with self.p.db.session() as session:
            row = session.get(Build, build_id)
            if row is None:
                # Destroying the app removed its builds while this one ran.
                raise app_not_found(name)
            row.status, row.finished_at = BuildStatus.SUCCEEDED, utcnow()
            row.started_at = row.started_at or row.finished_at
            row.stack, row.image, row.port = finished.stack, finished.image, finished.port
            row.processes = dict(finished.processes)
            row.run_as = finished.run_as
            store_manifest(self.p.vault, row, finished.manifest)
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
            row_id = row.id
        self._publish(app, "build", "build.succeeded", row_id)
        return row_id

    def _untag(self, ref: str) -> None:
        """Remove the image a cancelled build tagged as it finished (nothing is left behind)."""
        try:
            self.docker.api.remove_image(ref)
        except docker.errors.DockerException as e:
            _log.warning("could not remove %s of a cancelled build: %s", ref, e)

    def _builds_root(self, name: str) -> Path:
        root = self.p.settings.builds_dir / name
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _fail_build(
        self, build_id: int, lines: list[str], user: Principal, app: App, error: XaeError
    ) -> None:
        """Record build `build_id` as failed (or cancelled, or timed out), with its log and
        audit event, and publish it."""
        status = _status_of(error)
        name = app.name
        with self.p.db.session() as session:
            build = session.get(Build, build_id)
            if build is not None:
                build.status, build.finished_at = status, utcnow()
                if status == BuildStatus.CANCELLED and not lines:
                    lines = [f"cancelled before it started: {error.message}"]
                elif status == BuildStatus.TIMED_OUT:
                    lines = [*lines, error.message.split(";", 1)[0]]
                build.log = "\n".join(lines[-2000:])
            record(
                session,
                user,
                "build",
                name,
                app=name,
                result=str(status) if status != BuildStatus.FAILED else "failed",
                details={"build": build_id, "error": error.message[:500]},
            )
        if isinstance(error, BuildFailed) and "log_tail" not in error.details:
            error.details["log_tail"] = lines[-LOG_TAIL:]
        self._publish(app, "build", f"build.{status}", build_id, error=error.message)


def _status_of(error: XaeError) -> BuildStatus:
    if isinstance(error, BuildCancelled):
        return BuildStatus.CANCELLED
    if isinstance(error, BuildTimedOut):
        return BuildStatus.TIMED_OUT
    return BuildStatus.FAILED


def _subject(message: str | None) -> str | None:
    """A commit message's first line, as much as the store keeps."""
    if not message:
        return None
    lines = message.strip().splitlines()
    return lines[0][:256] if lines else None


def _log_lines(emit: Emit) -> Callable[[str], None]:
    """A release command's output as the `log` events the CLI prints, escapes stripped."""
    return lambda line: emit(LogLine(strip_escapes(line)))


def _steps(emit: Emit) -> Progress:
    """Progress messages as the `step` events the CLI shows."""
    return lambda message: emit(Step(message))


def _check_present(session: Session, app: App) -> None:
    """Raise the app's not-found answer if `app` (loaded earlier, by the API) was destroyed
    since: by id, so an app recreated under the same name is not mistaken for it."""
    if session.get(App, app.id) is None:
        raise app_not_found(app.name)
