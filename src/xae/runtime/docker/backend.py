"""Runs app instances as hardened containers on the local Docker engine.

Every container xae creates carries `xae.*` labels; xae lists, replaces and removes only
containers with `xae.managed=1`, so it never touches anything it did not create. Each app gets
its own bridge network; the router (host nginx) reaches instances at their bridge addresses, so
no port is ever published and apps cannot reach each other (Docker isolates bridge networks).
With a `HostWall` (the server always gives one), each app network is also fenced off the host
itself: instances reach no host port but the router's (`xae.runtime.docker.hostwall`).

An image missing from the engine is pulled here, explicitly, before the container is created,
so that a failed pull is told apart from a failed start and reported by kind only: the
engine's pull errors quote the registry's response body, which whoever runs the registry
writes, and it never reaches a user or a log line.

What a container is made of (`container_args`) is a pure function of the instance spec, the
twin of `xae.runtime.kubernetes.manifests.deployment`; the engine client is made once where the
process starts (`xae.docker_client`) and passed in.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypedDict, cast

import docker
import docker.errors
from docker.models.containers import Container

from xae.domain.gc import PULLED_REPOSITORY, pulled_marker
from xae.domain.images import describe_pull_failure
from xae.domain.policy import (
    APP_UID,
    LABEL_APP,
    LABEL_MANAGED,
    LABEL_ONEOFF,
    LABEL_PLANE,
    is_oneoff,
)
from xae.domain.runas import IMAGE_USER, ROOT, ImageUserUnknown, gid_of, shown_user, uid_of
from xae.domain.states import InstanceState
from xae.errors import RuntimeFailure, RuntimeUnavailable
from xae.image_users import image_run_as
from xae.runtime.base import Instance, InstanceSpec, OneOffResult, OneOffSpec, OutputLine
from xae.runtime.command import shell_command
from xae.runtime.docker.hostwall import HostWall, bridge_of

log = logging.getLogger("xae.runtime.docker")

APP_USER = f"{APP_UID}:{APP_UID}"
MANAGED = LABEL_MANAGED
PLANE = LABEL_PLANE
_STOPPABLE = (InstanceState.RUNNING, InstanceState.RESTARTING)
"""States whose container gets SIGTERM and its grace period before it is removed."""


class _NetworkInfo(TypedDict, total=False):
    IPAddress: str


class _ContainerSummary(TypedDict, total=False):
    """The fields of Docker's `GET /containers/json` rows that xae reads."""

    Id: str
    Names: list[str]
    Labels: dict[str, str]
    State: str
    Status: str
    Created: int
    NetworkSettings: dict[str, dict[str, _NetworkInfo]]


def network_name(plane: str, app: str) -> str:
    return f"xae-{plane}-{app}"


def labels_for(plane: str, spec: InstanceSpec) -> dict[str, str]:
    return {
        MANAGED: "1",
        LABEL_ONEOFF: "",
        PLANE: plane,
        LABEL_APP: spec.app,
        "xae.process": spec.process,
        "xae.release": f"v{spec.release}",
        "xae.spec": spec.spec_hash,
        "xae.port": str(spec.port or ""),
        "xae.memory": str(spec.memory_bytes),
        "xae.cpus": str(spec.cpus),
        "xae.user": shown_user(spec.run_as),
    }


def container_name(plane: str, spec: InstanceSpec, suffix: str) -> str:
    """`xae-[<plane>-]<app>-<process>-v<release>-<suffix>`: unique with a random `suffix`."""
    prefix = "" if plane == "default" else f"{plane}-"
    return f"xae-{prefix}{spec.app}-{spec.process}-v{spec.release}-{suffix}"


USERNS_ROOT_CAPABILITIES = ("CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE", "FOWNER")
"""What an image that needs root gets back, only inside a user namespace."""


def container_args(spec: InstanceSpec, *, plane: str, name: str) -> dict[str, Any]:
    """The `containers.create` arguments of one instance: what it runs and how it is confined.

    Pure, like `manifests.deployment()` on kubernetes: the same spec gives the same container.
    """
    env = dict(spec.env)
    if spec.port is not None:
        env["PORT"] = str(spec.port)
    return dict(
        image=spec.image,
        command=shell_command(spec.command) if spec.command else None,
        name=name,
        hostname=name[-40:].lstrip("-"),
        environment=env,
        labels=labels_for(plane, spec),
        # Root only inside the engine's user namespace (`start` checks that it remaps).
        user=f"{uid_of(spec.run_as)}:{gid_of(spec.run_as)}",
        cap_drop=["ALL"],
        # Root inside a user namespace gets back the few capabilities an image made for root
        # needs to drop to its own users (nginx's master: chown its dirs, then setuid); they act
        # on the container's own namespace only, where root is an unprivileged id on the host.
        cap_add=list(USERNS_ROOT_CAPABILITIES) if spec.root_in_userns else None,
        security_opt=["no-new-privileges:true"],
        pids_limit=spec.pids_limit,
        mem_limit=spec.memory_bytes,
        memswap_limit=spec.memory_bytes,
        nano_cpus=int(spec.cpus * 1e9),
        # overlay2 bounds the writable layer only on xfs with pquota (not here, nor on most
        # hosts), so the one place apps are told to write scratch data is bounded: /tmp, a
        # tmpfs charged to the memory limit. Writes past it fail with ENOSPC.
        tmpfs={"/tmp": f"rw,nosuid,nodev,size={spec.tmp_bytes},mode=1777"},
        # `--read-only`: nothing outside /tmp (the tmpfs above) can be written.
        read_only=spec.read_only,
        init=True,
        network=network_name(plane, spec.app),
        restart_policy={"Name": "unless-stopped"},
        log_config={"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
    )


def oneoff_instance_spec(spec: OneOffSpec) -> InstanceSpec:
    """The instance a one-off would be, so it is confined by the same `container_args`."""
    return InstanceSpec(
        app=spec.app,
        process=spec.kind,
        release=spec.release,
        image=spec.image,
        command=spec.command,
        env=spec.env,
        port=None,
        memory_bytes=spec.memory_bytes,
        cpus=spec.cpus,
        pids_limit=spec.pids_limit,
        spec_hash="",
        tmp_bytes=spec.tmp_bytes,
        run_as=spec.run_as,
    )


def oneoff_name(plane: str, spec: OneOffSpec) -> str:
    """`xae-[<plane>-]<app>-<name>`: `spec.name` is unique among the app's one-offs."""
    prefix = "" if plane == "default" else f"{plane}-"
    return f"xae-{prefix}{spec.app}-{spec.name}"


def oneoff_args(spec: OneOffSpec, *, plane: str, name: str) -> dict[str, Any]:
    """`container_args` of a one-off: an instance's confinement and network (so it reaches the
    app's add-ons), a label that keeps it out of `list_instances`, and no restart."""
    args = container_args(oneoff_instance_spec(spec), plane=plane, name=name)
    args["labels"][LABEL_ONEOFF] = spec.kind
    args["labels"]["xae.oneoff-name"] = spec.name
    args["restart_policy"] = {"Name": "no"}
    return args


def _instance_from_summary(row: _ContainerSummary) -> Instance:
    labels = row.get("Labels") or {}
    networks = (row.get("NetworkSettings") or {}).get("Networks") or {}
    app = labels.get(LABEL_APP, "")
    address = (networks.get(network_name(labels.get(PLANE, ""), app)) or {}).get(
        "IPAddress"
    ) or None
    port = labels.get("xae.port") or ""
    return Instance(
        id=row["Id"],
        name=(row.get("Names") or ["/?"])[0].lstrip("/"),
        app=app,
        process=labels.get("xae.process", ""),
        release=int(labels.get("xae.release", "v0").lstrip("v") or 0),
        spec_hash=labels.get("xae.spec", ""),
        state=InstanceState.of(row.get("State", "unknown")),
        address=address,
        port=int(port) if port else None,
        memory_bytes=int(labels.get("xae.memory") or 0),
        cpus=float(labels.get("xae.cpus") or 0),
        started_at=datetime.fromtimestamp(row["Created"], UTC) if row.get("Created") else None,
        labels=dict(labels),
        # Containers from before images chose their user all ran as the app user.
        user=labels.get("xae.user") or str(APP_UID),
    )


class _LineStream:
    """Docker's log byte stream as lines; `close()` from another thread ends a `follow`."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._lines = self._split()

    def _split(self) -> Iterator[str]:
        buffer = b""
        for chunk in self._stream:
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                yield line.decode(errors="replace")
        if buffer:
            yield buffer.decode(errors="replace")

    def __iter__(self) -> _LineStream:
        return self

    def __next__(self) -> str:
        return next(self._lines)

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


def _pump(lines: Iterator[str], on_line: OutputLine) -> None:
    """Hand each line of a one-off's output on, as the engine delivers it."""
    for line in lines:
        on_line(line[:MAX_LINE])


MAX_LINE = 4096
"""Longer output lines are cut: a line is for reading, and it is stored with the run."""


class DockerRuntime:
    """`xae.runtime.base.Runtime` on the local Docker engine."""

    name = "docker"

    def __init__(
        self, client: docker.DockerClient, plane: str = "default", wall: HostWall | None = None
    ) -> None:
        self.plane = plane
        self.client = client
        self.wall = wall
        self._wall_written = False

    def check_userns(self) -> None:
        """Raise `RuntimeFailure` unless the engine runs containers in a user namespace.

        Root in an image is allowed only when root inside is an unprivileged id outside: with
        Docker that is the daemon's `userns-remap`, which `make up` configures. Asked of the
        engine (`docker info`, a few ms) before every such start and never remembered: a
        dockerd restarted without it must not inherit an old yes.
        """
        try:
            options = self.client.info().get("SecurityOptions") or []
        except (docker.errors.DockerException, OSError) as e:
            raise RuntimeUnavailable(f"asking the Docker engine failed: {str(e)[:200]}") from e
        if not any("name=userns" in str(option) for option in options):
            raise RuntimeFailure(
                "this image runs as root, and the Docker engine does not remap users "
                "(userns-remap is off), so root in the container would be root on the host: "
                "set a non-root USER in the Dockerfile, or run `make up`, which turns "
                "userns-remap on"
            )

    def ping(self) -> None:
        try:
            self.client.ping()
        except (docker.errors.DockerException, OSError) as e:
            raise RuntimeUnavailable(
                "the Docker engine does not answer: start dockerd (`make up` does)"
            ) from e

    def ensure_network(self, app: str) -> None:
        name = network_name(self.plane, app)
        try:
            if not self.client.networks.list(names=[name]):
                self.client.networks.create(
                    name,
                    driver="bridge",
                    labels={MANAGED: "1", PLANE: self.plane, LABEL_APP: app},
                    check_duplicate=True,
                )
        except docker.errors.APIError as e:
            if e.status_code != 409:
                raise RuntimeFailure(
                    f"creating the network for {app!r} failed: {e.explanation}"
                ) from e
        self._fence(name)

    def _fence(self, name: str) -> None:
        """Fence the network off the host (a no-op without a wall, e.g. in unit tests)."""
        if self.wall is None:
            return
        if not self._wall_written:
            self.wall.install_chain()
            self._wall_written = True
        for bridge in self._bridges(name):
            self.wall.guard(bridge)

    def _bridges(self, name: str) -> list[str]:
        try:
            networks = self.client.api.networks(names=[name])
        except docker.errors.APIError as e:
            raise RuntimeFailure(f"looking up the network {name} failed: {e.explanation}") from e
        return [bridge_of(n["Id"], n.get("Options")) for n in networks if n.get("Name") == name]

    def list_instances(self, app: str | None = None) -> list[Instance]:
        filters = [f"{MANAGED}=1", f"{PLANE}={self.plane}"]
        if app:
            filters.append(f"{LABEL_APP}={app}")
        try:
            rows = cast(
                list[_ContainerSummary],
                self.client.api.containers(all=True, filters={"label": filters}),
            )
        except docker.errors.DockerException as e:
            raise RuntimeUnavailable(f"listing containers failed: {str(e)[:200]}") from e
        return [
            _instance_from_summary(row) for row in rows if not is_oneoff(row.get("Labels") or {})
        ]

    def ensure_image(self, image: str) -> None:
        """Pull `image` unless the engine has it; a failure says what kind, never the body.

        An image pulled here is marked with this plane's tag (`xae.domain.gc.pulled_marker`),
        so garbage collection removes it once no kept release runs it; so is one that another
        plane pulled. An image that was on the engine before, unmarked, is never marked."""
        try:
            found = self.client.api.inspect_image(image)
        except docker.errors.ImageNotFound:
            found = None
        except docker.errors.APIError as e:
            raise RuntimeFailure(f"looking up the image {image} failed ({e.status_code})") from e
        if found is not None:
            tags = found.get("RepoTags") or []
            pulled = any(t.startswith(PULLED_REPOSITORY) for t in tags)
            if pulled and pulled_marker(self.plane, image) not in tags:
                self._mark_pulled(image)
            return
        # The engine's error is read, not chained (`from None`): a traceback in a log would
        # carry the registry's body along.
        try:
            for line in self.client.api.pull(image, stream=True, decode=True):
                if isinstance(line, dict) and "error" in line:
                    detail = str(line.get("error") or "")
                    raise RuntimeFailure(describe_pull_failure(image, detail))
        except docker.errors.APIError as e:
            detail = str(e.explanation or "")
            raise RuntimeFailure(describe_pull_failure(image, detail)) from None
        except (docker.errors.DockerException, OSError) as e:  # e.g. the engine's read timeout
            raise RuntimeFailure(describe_pull_failure(image, type(e).__name__)) from None
        self._mark_pulled(image)

    def _mark_pulled(self, image: str) -> None:
        repository, _, tag = pulled_marker(self.plane, image).rpartition(":")
        try:
            self.client.api.tag(image, repository, tag)
        except docker.errors.APIError as e:  # it runs; only its collection is lost
            log.warning("could not mark the pulled image %s (%s)", image, e.status_code)

    def image_user(self, image: str) -> str:
        """`run_as` of `image`, which the engine holds: its own user (`xae.image_users`)."""
        try:
            return image_run_as(self.client, image, self.client.api.inspect_image(image))
        except ImageUserUnknown:
            raise RuntimeFailure(
                f"the USER of image {image} is not in the image's /etc/passwd or /etc/group: "
                "give USER as a number, or create the user in the image"
            ) from None
        except docker.errors.APIError as e:
            raise RuntimeFailure(
                f"reading who image {image} runs as failed ({e.status_code})"
            ) from e

    def start(self, spec: InstanceSpec) -> Instance:
        self.ensure_image(spec.image)
        if spec.run_as == IMAGE_USER:  # deployed as is: the image says, now that it is here
            spec = replace(spec, run_as=self.image_user(spec.image))
        if spec.root_in_userns:
            self.check_userns()
        self.ensure_network(spec.app)
        name = container_name(self.plane, spec, secrets.token_hex(3))
        kwargs = container_args(spec, plane=self.plane, name=name)
        try:
            # create + start, not `run`: `run` pulls a missing image itself and its error would
            # quote the registry; `ensure_image` pulled it already.
            container = cast(Container, self.client.containers.create(**kwargs))
            container.start()
            container.reload()
        except docker.errors.ImageNotFound as e:
            raise RuntimeFailure(f"image {spec.image} is gone: deploy the app again") from e
        except docker.errors.APIError as e:
            raise RuntimeFailure(f"starting {name} failed: {e.explanation}") from e
        attrs = container.attrs
        summary: _ContainerSummary = {
            "Id": container.id or "",
            "Names": ["/" + name],
            "Labels": attrs["Config"]["Labels"],
            "State": attrs["State"]["Status"],
            "NetworkSettings": {"Networks": attrs["NetworkSettings"]["Networks"]},
        }
        return _instance_from_summary(summary)

    def run_oneoff(self, spec: OneOffSpec, on_line: OutputLine) -> OneOffResult:
        self.ensure_image(spec.image)
        if spec.run_as == IMAGE_USER:
            spec = replace(spec, run_as=self.image_user(spec.image))
        if spec.run_as == ROOT:
            self.check_userns()
        self.ensure_network(spec.app)
        name = oneoff_name(self.plane, spec)
        try:
            container = cast(
                Container,
                self.client.containers.create(**oneoff_args(spec, plane=self.plane, name=name)),
            )
        except docker.errors.ImageNotFound as e:
            raise RuntimeFailure(f"image {spec.image} is gone: deploy the app again") from e
        except docker.errors.APIError as e:
            raise RuntimeFailure(f"creating {name} failed: {e.explanation}") from e
        try:
            return self._run_to_end(container, spec, on_line)
        finally:
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as e:
                if e.status_code != 409:  # 409: its removal is already in progress
                    raise RuntimeFailure(f"removing {name} failed: {e.explanation}") from e

    def _run_to_end(
        self, container: Container, spec: OneOffSpec, on_line: OutputLine
    ) -> OneOffResult:
        try:
            container.start()
            stream = container.logs(stream=True, follow=True, stdout=True, stderr=True)
        except docker.errors.APIError as e:
            raise RuntimeFailure(f"starting {container.name} failed: {e.explanation}") from e
        reader = threading.Thread(
            target=_pump, args=(_LineStream(stream), on_line), daemon=True, name="oneoff-log"
        )
        reader.start()
        deadline = time.monotonic() + spec.timeout
        exit_code: int | None = None
        while exit_code is None and time.monotonic() < deadline:
            try:
                container.reload()
            except docker.errors.NotFound:
                break
            if container.status in ("exited", "dead"):
                exit_code = int(container.attrs["State"].get("ExitCode", -1))
                break
            # Woken early when the output ends (the process exited); once it has ended, the
            # engine's state catches up within moments: look again at a gentle pace.
            pause = min(0.5, max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                reader.join(timeout=pause)
            else:
                time.sleep(min(pause, 0.1))
        timed_out = exit_code is None
        if timed_out:
            # It may have exited between the last look and the kill: removed below anyway.
            with contextlib.suppress(docker.errors.APIError):
                container.kill()
        reader.join(timeout=5)
        return OneOffResult(exit_code=exit_code, timed_out=timed_out)

    def stop(self, instance: Instance, grace: float) -> None:
        try:
            container = self.client.containers.get(instance.id)
            if InstanceState.of(container.status) in _STOPPABLE:
                container.stop(timeout=max(1, math.ceil(grace)))
            container.remove(force=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as e:
            if e.status_code == 409:  # removal already in progress
                return
            raise RuntimeFailure(f"stopping {instance.name} failed: {e.explanation}") from e

    def logs(self, instance: Instance, *, tail: int = 100, follow: bool = False) -> Iterator[str]:
        try:
            container = self.client.containers.get(instance.id)
            stream = container.logs(stream=True, follow=follow, tail=tail, timestamps=True)
        except docker.errors.NotFound:
            return iter(())
        except docker.errors.APIError as e:
            raise RuntimeFailure(f"reading logs of {instance.name} failed: {e.explanation}") from e
        return _LineStream(stream)

    def remove_app(self, app: str) -> None:
        for instance in self.list_instances(app):
            self.stop(instance, grace=1)
        self._remove_oneoffs(app)
        try:
            if self.wall is not None:
                for bridge in self._bridges(network_name(self.plane, app)):
                    self.wall.release(bridge)
            for network in self.client.networks.list(names=[network_name(self.plane, app)]):
                network.remove()
            image_filter = {"label": [f"{LABEL_APP}={app}", f"{PLANE}={self.plane}"]}
            for image in self.client.images.list(filters=image_filter):
                self.client.images.remove(image.id, force=True)
        except docker.errors.APIError as e:
            raise RuntimeFailure(
                f"removing the resources of {app!r} failed: {e.explanation}"
            ) from e

    def prune_oneoffs(self) -> int:
        return self._remove_oneoffs(None)

    def _remove_oneoffs(self, app: str | None) -> int:
        """One-offs (of `app`) still there: the control plane died during their run."""
        filters = [f"{MANAGED}=1", f"{PLANE}={self.plane}", LABEL_ONEOFF]
        if app is not None:
            filters.append(f"{LABEL_APP}={app}")
        removed = 0
        try:
            for row in self.client.api.containers(all=True, filters={"label": filters}):
                if not is_oneoff(row.get("Labels") or {}):
                    continue  # an instance (its label is empty)
                try:
                    self.client.api.remove_container(row["Id"], force=True)
                    removed += 1
                except docker.errors.NotFound:
                    continue
        except docker.errors.APIError as e:
            if e.status_code != 409:
                raise RuntimeFailure(f"removing one-offs failed: {e.explanation}") from e
        return removed
