"""A PIDs limit for one build: a cgroup xae creates, under which Docker puts the build's steps.

The classic builder's API takes memory and CPU limits for the containers that run `RUN` steps,
but no PIDs limit: without one, a fork bomb in a Dockerfile takes the whole machine's process
table. It does take a cgroup parent. With dockerd's cgroupfs driver on cgroup v1, a step's
container then lives in `/sys/fs/cgroup/<controller>/<parent>/<container id>`, and the kernel
counts every process below `<parent>` against the parent's `pids.max`, whatever the container's
own (unlimited) `pids.max` says.

So each build gets `/xae-build-<plane>/<random id>` with `pids.max` set before the build
starts, and the directory is removed (in every controller where runc created it) afterwards.
The container ids below it are also how a timed-out build's running step is found and killed.

What it must never do: write anywhere but below its own plane's directory, or leave a limit
off silently: an unsupported host is an error that says how to proceed.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from xae.errors import BuildFailed

log = logging.getLogger("xae.builder")

CGROUP_ROOT = Path("/sys/fs/cgroup")
_CONTAINER_ID = re.compile(r"^[0-9a-f]{64}$")


def parent_name(plane: str) -> str:
    """The cgroup directory all of a plane's builds live under."""
    return f"xae-build-{plane}"


@dataclass(frozen=True)
class BuildCgroup:
    """One build's cgroup: `path` is what the engine gets as `cgroupparent`."""

    root: Path
    path: str
    """`/xae-build-<plane>/<id>`, relative to each controller's mount point."""

    @classmethod
    def create(cls, plane: str, pids: int, root: Path = CGROUP_ROOT) -> BuildCgroup:
        """Create the build's cgroup with `pids.max` = `pids`."""
        controller = root / "pids"
        if (root / "cgroup.controllers").exists() or not controller.is_dir():
            raise BuildFailed(
                "builds get their PIDs limit from a cgroup v1 `pids` controller with dockerd's "
                "cgroupfs driver, and this host has neither; set XAE_BUILD_PIDS=0 to build "
                "without a PIDs limit"
            )
        build = cls(root=root, path=f"/{parent_name(plane)}/{secrets.token_hex(8)}")
        directory = build.directory("pids")
        try:
            directory.parent.mkdir(exist_ok=True)
            directory.mkdir()
            # Under dockerd's userns-remap the step's init (root inside, an unprivileged id
            # outside) must be able to look up its own cgroup below these; xae's umask 077
            # would make them root's alone. They hold only limits and container ids.
            for made in (directory.parent, directory):
                made.chmod(0o755)
            (directory / "pids.max").write_text(f"{pids}\n")
        except OSError as e:
            build.remove(wait=0)
            raise BuildFailed(f"could not create the build's cgroup {build.path}: {e}") from e
        return build

    def directory(self, controller: str) -> Path:
        return self.root / controller / self.path.lstrip("/")

    def container_ids(self) -> list[str]:
        """The containers (build steps) running in this build's cgroup right now."""
        try:
            entries = list(self.directory("pids").iterdir())
        except FileNotFoundError:
            return []
        return sorted(p.name for p in entries if _CONTAINER_ID.match(p.name) and p.is_dir())

    def remove(self, wait: float = 10.0) -> None:
        """Remove the build's directory from every controller, waiting up to `wait` seconds
        for the engine to remove its step containers' cgroups first."""
        deadline = time.monotonic() + wait
        for controller in sorted(self.root.iterdir()):
            directory = controller / self.path.lstrip("/")
            while directory.is_dir():
                try:
                    directory.rmdir()
                except FileNotFoundError:
                    break
                except OSError as e:  # busy: a step container's cgroup is still below it
                    if time.monotonic() >= deadline:
                        log.warning("leaving the build cgroup %s behind: %s", directory, e)
                        break
                    time.sleep(0.05)


def remove_plane_parent(plane: str, root: Path = CGROUP_ROOT) -> None:
    """Remove a plane's (empty) build parent from every controller (uninstalling a plane)."""
    for controller in sorted(root.iterdir()):
        directory = controller / parent_name(plane)
        if directory.is_dir():
            directory.rmdir()
