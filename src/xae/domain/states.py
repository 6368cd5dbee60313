"""The states a build, a release and an instance can be in, as enumerations. Pure: no I/O.

They are `StrEnum`s so that each member *is* the string it always was: the database columns
keep the same values (no migration), the API's JSON and the CLI's tables show the same words,
and a comparison with a plain string still holds. What they add is one written list per kind,
so a reader (and mypy) sees every state there is, and a typo is an error, not a silent miss.

`InstanceState` is what the runtime backends report, and the two report different words: the
docker backend passes on the engine's container state, the kubernetes backend derives one
from a pod (`xae.runtime.kubernetes.backend`). Every word either produces is a member, so
the API shows the backend's word unchanged; a word neither documents becomes `unknown`.
"""

from __future__ import annotations

from enum import StrEnum


class BuildStatus(StrEnum):
    """A build: `queued` while it waits for a build slot (and for the app's previous deploy),
    `running`, then `succeeded`, `failed` (also when the control plane stopped during it: see
    `xae.control.recovery`), `cancelled` (`xae builds:cancel`) or `timed_out` (it overran
    `build_timeout` and was stopped)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    QUEUED = "queued"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def finished(self) -> bool:
        """Whether the build is over (nothing more will happen to it)."""
        return self not in (BuildStatus.QUEUED, BuildStatus.RUNNING)


class ReleaseStatus(StrEnum):
    """A release: `pending` while it rolls out; `succeeded` once it became current (the only
    kind a rollback goes back to by default); `failed` when its rollout failed or was
    interrupted, and then it never became current."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class InstanceState(StrEnum):
    """One instance as its backend reports it."""

    RUNNING = "running"
    """Both backends: the process runs (not necessarily healthy or ready yet)."""
    EXITED = "exited"
    """Both: the process ended (kubernetes: a terminated container, or pod phase `Succeeded`
    or `Failed`)."""
    UNKNOWN = "unknown"
    """Both: the backend cannot tell (kubernetes pod phase `Unknown`: its node is unreachable;
    docker: a container summary without a state). Also any word neither backend documents."""

    CREATED = "created"
    """Docker: created but never started (a start that failed leaves it so)."""
    RESTARTING = "restarting"
    """Docker: being restarted by the engine."""
    PAUSED = "paused"
    """Docker: frozen (`docker pause`); xae never pauses, an operator might."""
    REMOVING = "removing"
    """Docker: being removed."""
    DEAD = "dead"
    """Docker: a removal failed half way; the container cannot run again."""

    PENDING = "pending"
    """Kubernetes: the pod is accepted but not scheduled or its containers not created yet."""
    STARTING = "starting"
    """Kubernetes: a container is waiting (pulling its image, being created)."""
    CRASHING = "crashing"
    """Kubernetes: a container is waiting in `CrashLoopBackOff`: it keeps exiting."""
    TERMINATING = "terminating"
    """Kubernetes: the pod is being deleted (it has left the routes already)."""

    @classmethod
    def of(cls, word: str) -> InstanceState:
        """The member for a backend's `word`; `unknown` for a word no backend documents, so a
        newer engine's state cannot break listing an app's instances."""
        try:
            return cls(word)
        except ValueError:
            return cls.UNKNOWN
