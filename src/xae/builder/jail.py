"""What one app build is confined by: limits, a PIDs cgroup, the build network, a deadline.

A Dockerfile's `RUN` steps are tenant code that runs as root in a container on this machine,
before any of the runtime's hardening applies. Without a jail they had no memory, CPU or PIDs
limit, no time limit, and Docker's default bridge let them reach the host's router and every
other container. `BuildJail.confine()` prepares, for one build, the engine parameters that
close those doors (`memory`/`memswap`, `cpuperiod`/`cpuquota`, `cgroupparent`, `networkmode`)
and undoes what it created when the build is over; `Deadline` stops a build that overruns.

What it must never do: let a build start without the limits it was configured with, or decide
what to kill from anything the build prints (its log is tenant text): step containers are found
through the build's own cgroup, which the tenant cannot shape.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import docker
import docker.errors

from xae.builder.buildcgroup import CGROUP_ROOT, BuildCgroup, remove_plane_parent
from xae.builder.buildnet import RESOLV_CONF, Run, prepare_build_network, remove_build_network
from xae.config import Settings
from xae.domain.resources import parse_memory, validate_cpus
from xae.errors import BuildFailed, InvalidInput

log = logging.getLogger("xae.builder")

CPU_PERIOD = 100_000
"""The CFS period (µs) a build's CPU quota is expressed in."""

STEP_GONE_WAIT = 30.0
"""How long a stopped build's step containers get to disappear before xae removes them."""

STEP_SETTLE = 2.0
"""How long a stopped build must show no new step container before xae trusts it is over."""


@dataclass(frozen=True)
class BuildLimits:
    """The resources one build may use, from the `build_*` settings."""

    memory_bytes: int
    cpus: float
    pids: int
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> BuildLimits:
        try:
            memory = parse_memory(settings.build_memory)
            cpus = validate_cpus(settings.build_cpus)
        except InvalidInput as e:
            raise BuildFailed(f"the platform's build limits are not valid: {e.message}") from e
        return cls(
            memory_bytes=memory, cpus=cpus, pids=settings.build_pids, timeout=settings.build_timeout
        )

    def engine_params(self) -> dict[str, int]:
        """The build API's resource parameters: memory without extra swap, a CFS CPU quota."""
        return {
            "memory": self.memory_bytes,
            "memswap": self.memory_bytes,
            "cpuperiod": CPU_PERIOD,
            "cpuquota": max(1000, round(self.cpus * CPU_PERIOD)),
        }


class Confinement:
    """One build's prepared jail: the engine parameters, and how to stop its steps."""

    def __init__(
        self, client: docker.DockerClient, params: dict[str, str | int], cgroup: BuildCgroup | None
    ) -> None:
        self._client = client
        self.params = params
        self.cgroup = cgroup

    def step_ids(self) -> list[str]:
        """This build's step containers: those running in its cgroup, and those the engine
        has created under it but not started yet (an aborted build may still start one)."""
        if self.cgroup is None:
            return []
        ids = set(self.cgroup.container_ids())
        for summary in self._client.api.containers(all=True, filters={"status": "created"}):
            try:
                info = self._client.api.inspect_container(summary["Id"])
            except docker.errors.NotFound:
                continue
            if (info.get("HostConfig") or {}).get("CgroupParent") == self.cgroup.path:
                ids.add(str(summary["Id"]))
        return sorted(ids)

    def kill_steps(self, known: Collection[str] = ()) -> list[str]:
        """Stop this build's step containers other than `known`; their ids. A running step
        is killed (the engine removes it); one not started yet is removed at once."""
        ids = [cid for cid in self.step_ids() if cid not in known]
        for cid in ids:
            try:
                self._client.api.kill(cid)
            except docker.errors.NotFound:
                log.debug("build step %s was already gone", cid[:12])
            except docker.errors.APIError as e:  # 409: not running (created, or exited)
                log.debug("build step %s could not be killed (%s): removing it", cid[:12], e)
                with contextlib.suppress(docker.errors.APIError):  # gone or going meanwhile
                    self._client.api.remove_container(cid, force=True)
        return ids

    def stop_steps(
        self, stopped: list[str], settle: float = STEP_SETTLE, wait: float = STEP_GONE_WAIT
    ) -> None:
        """After a stopped build's stream has ended: keep killing step containers until none
        has appeared for `settle` seconds, then wait for every one of them to be gone.

        The engine cancels a step when the build request is aborted, but a step it created
        just before may start after that cancel, with nobody left to stop it: so `stopped`
        (the ids killed already) is only where this starts."""
        deadline = time.monotonic() + wait
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < settle and time.monotonic() < deadline:
            found = self.kill_steps(known=stopped)
            if found:
                stopped.extend(found)
                quiet_since = time.monotonic()
            time.sleep(0.1)
        self.wait_steps_gone(stopped, max(0.0, deadline - time.monotonic()))

    def wait_steps_gone(self, ids: list[str], wait: float = STEP_GONE_WAIT) -> None:
        """Wait for the engine to remove the killed step containers; remove stragglers."""
        deadline = time.monotonic() + wait
        pending = list(ids)
        while pending:
            pending = [cid for cid in pending if self._exists(cid)]
            if not pending:
                return
            if time.monotonic() >= deadline:
                for cid in pending:
                    with contextlib.suppress(docker.errors.NotFound):  # gone meanwhile: fine
                        self._client.api.remove_container(cid, force=True)
                return
            time.sleep(0.1)

    def _exists(self, cid: str) -> bool:
        try:
            self._client.api.inspect_container(cid)
        except docker.errors.NotFound:
            return False
        return True


class BuildJail:
    """Prepares the jail of each build of one plane (see the module docstring)."""

    def __init__(
        self,
        client: docker.DockerClient,
        settings: Settings,
        *,
        cgroup_root: Path = CGROUP_ROOT,
        run: Run = subprocess.run,
        resolv_conf: Path = RESOLV_CONF,
    ) -> None:
        self._client = client
        self._settings = settings
        self._cgroup_root = cgroup_root
        self._run = run
        self._resolv_conf = resolv_conf
        self.limits = BuildLimits.from_settings(settings)

    @contextlib.contextmanager
    def confine(self) -> Iterator[Confinement]:
        """The engine parameters for one build; its cgroup is removed when the block ends."""
        network = prepare_build_network(self._client, self._settings, self._run, self._resolv_conf)
        params: dict[str, str | int] = {"networkmode": network, **self.limits.engine_params()}
        cgroup = None
        if self.limits.pids > 0:
            cgroup = BuildCgroup.create(self._settings.plane, self.limits.pids, self._cgroup_root)
            params["cgroupparent"] = cgroup.path
        try:
            yield Confinement(self._client, params, cgroup)
        finally:
            if cgroup is not None:
                cgroup.remove()


class Deadline:
    """Runs `on_expiry` once, in a timer thread, if the work is not finished within `seconds`.

    `finish()` and the expiry decide under one lock, so exactly one of "finished in time" and
    "expired" happens: a build that expires is never treated as a success afterwards.
    """

    def __init__(self, seconds: float, on_expiry: Callable[[], None]) -> None:
        self.seconds = seconds
        self._on_expiry = on_expiry
        self._lock = threading.Lock()
        self._done = False
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish()
        self._timer.cancel()
        if self.expired:  # let the expiry's clean-up finish before the caller reports it
            self._timer.join(STEP_GONE_WAIT)

    def finish(self) -> bool:
        """Mark the work done; True if that happened before the deadline."""
        with self._lock:
            self._done = True
            return not self.expired

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
        self._on_expiry()


def remove_plane_jail(
    client: docker.DockerClient,
    plane: str,
    *,
    cgroup_root: Path = CGROUP_ROOT,
    run: Run = subprocess.run,
) -> None:
    """Remove what builds of `plane` set up: the build network, its firewall, the cgroup
    parent (uninstalling a plane; the tests' planes)."""
    remove_build_network(client, plane, run)
    remove_plane_parent(plane, cgroup_root)
