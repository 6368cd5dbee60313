"""The interface every app runtime backend implements (docker now, kubernetes next).

The control layer speaks only this Protocol. A backend turns an `InstanceSpec` into a running,
isolated, limited instance and reports what actually runs as `Instance`s; it keeps no desired
state of its own, so a restarted control plane can always rebuild its view from `list_instances`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class InstanceSpec:
    """One instance to start: what to run, with which config and limits."""

    app: str
    process: str
    release: int
    image: str
    command: str
    env: dict[str, str]
    port: int | None
    memory_bytes: int
    cpus: float
    pids_limit: int
    spec_hash: str
    """Identifies everything above; an instance with another hash than the plan is replaced."""


@dataclass(frozen=True)
class Instance:
    """One running (or dead) instance as the backend sees it."""

    id: str
    name: str
    app: str
    process: str
    release: int
    spec_hash: str
    state: str
    """`running`, `created`, `restarting`, `exited` or `dead`."""
    address: str | None
    port: int | None
    memory_bytes: int
    cpus: float
    started_at: datetime | None = None
    exit_code: int | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.state == "running"


class Runtime(Protocol):
    name: str

    def ping(self) -> None:
        """Raise `RuntimeUnavailable` (saying what to do) when the backend cannot be reached."""

    def ensure_network(self, app: str) -> None:
        """Create the app's private network if it does not exist."""

    def remove_app(self, app: str) -> None:
        """Remove every instance, the network and the images of `app`."""

    def list_instances(self, app: str | None = None) -> list[Instance]:
        """Every instance xae created (of `app`, if given), whatever its state."""

    def start(self, spec: InstanceSpec) -> Instance:
        """Start one instance and return it once it runs (not necessarily healthy yet)."""

    def stop(self, instance: Instance, grace: float) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds, then remove the instance."""

    def logs(self, instance: Instance, *, tail: int = 100, follow: bool = False) -> Iterator[str]:
        """The output, line by line, each starting with an RFC 3339 timestamp and a space.

        The iterator may have a `close()` that ends a `follow` from another thread.
        """
        ...
