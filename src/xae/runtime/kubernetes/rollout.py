"""Reading a rollout's state from Deployments and Pods: done, still going, or failed (and why).

Pure functions over the cached objects, so the rules are tested without a cluster. The rules
are those of `kubectl rollout status`, plus the failures a PaaS user needs named instead of a
timeout: an image that cannot be pulled, a config the container cannot start with, a process
that crashes, a health check that never passes (the startup probe restarts the container).
A failed pull is named by kind only (`describe_pull_failure`): the kubelet's message quotes
the registry's answer, which is not ours to repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod

from xae.domain.images import describe_pull_failure
from xae.runtime.kubernetes.manifests import PROCESS, SPEC

FATAL_WAITING = {
    "InvalidImageName": "the image name is invalid",
    "ImagePullBackOff": "the image cannot be pulled",
    "CrashLoopBackOff": "the process keeps exiting",
}
TRANSIENT_WAITING = {
    "ErrImagePull": "the image cannot be pulled",
    "CreateContainerConfigError": "the container's configuration is invalid",
    "CreateContainerError": "the container cannot be created",
    "RunContainerError": "the container cannot be started",
}
"""The kubelet retries these, and they often clear (a new Secret not yet in the kubelet's
cache: "failed to sync secret cache"); they fail a rollout only when they last."""
PULL_FAILURES = frozenset({"ErrImagePull", "ImagePullBackOff"})
TRANSIENT_GRACE = timedelta(seconds=30)
MAX_RESTARTS = 0
"""A new pod restarted more than this during a rollout has failed it (it crashed, or the
startup probe gave up because the health check never passed), as on docker, where an instance
that dies during its health gate fails the deploy."""


@dataclass(frozen=True)
class Failure:
    process: str
    pod: str | None
    reason: str


@dataclass(frozen=True)
class Status:
    done: bool
    waiting_for: str = ""
    failure: Failure | None = None


@dataclass(frozen=True)
class Wanted:
    replicas: int
    spec_hash: str
    generation: int = 0
    """The generation the apply answered with: an older object (the cache may still hold the
    one from before the apply) says nothing about this rollout."""


def deployment_done(d: Deployment, wanted: Wanted) -> str | None:
    """None once `d` runs exactly the wanted ready pods; else what it waits for."""
    annotations = (d.metadata.annotations or {}) if d.metadata else {}
    generation = (d.metadata.generation if d.metadata else None) or 0
    if annotations.get(SPEC) != wanted.spec_hash or generation < wanted.generation:
        return "the new spec to be applied"
    status = d.status
    if status is None or generation > (status.observedGeneration or 0):
        return "the controller to see the new spec"
    replicas = wanted.replicas
    updated = status.updatedReplicas or 0
    total = status.replicas or 0
    available = status.availableReplicas or 0
    if updated < replicas:
        return f"{updated} of {replicas} new instance(s) to be created"
    if total > replicas:
        return f"{total - replicas} old instance(s) to stop"
    if available < replicas:
        return f"{available} of {replicas} new instance(s) to be ready"
    return None


def pod_failure(pod: Pod, now: datetime | None = None) -> str | None:
    """Why a pod of the new release cannot become ready, if that is already certain."""
    status = pod.status
    if status is None:
        return None
    created = pod.metadata.creationTimestamp if pod.metadata else None
    lasting = created is None or (now or datetime.now(UTC)) - created > TRANSIENT_GRACE
    for c in status.containerStatuses or []:
        waiting = c.state.waiting if c.state else None
        reason = waiting.reason if waiting is not None else None
        if waiting is not None and reason is not None:
            what = FATAL_WAITING.get(reason) or (lasting and TRANSIENT_WAITING.get(reason))
            if what and reason in PULL_FAILURES:
                return f"{describe_pull_failure(c.image, waiting.message or '')} ({reason})"
            if what:
                message = f": {waiting.message}" if waiting.message else ""
                return f"{what} ({reason}{message})"
        if c.restartCount > MAX_RESTARTS:
            last = c.lastState.terminated if c.lastState else None
            exit_info = f", last exit code {last.exitCode}" if last else ""
            if last is not None and last.reason:  # `OOMKilled` says more than 137
                exit_info += f": {last.reason}"
            return (
                f"it exited or did not pass the health check in time (restarted "
                f"{c.restartCount} time(s){exit_info})"
            )
    if status.phase == "Failed":
        return f"the pod failed ({status.reason or 'no reason given'})"
    return None


def evaluate(
    deployments: dict[str, Deployment],
    wanted: dict[str, Wanted],
    pods: list[Pod],
    now: datetime | None = None,
) -> Status:
    """`wanted` and `deployments` are by process type."""
    for process, want in sorted(wanted.items()):
        spec_hash = want.spec_hash
        new_pods = [
            p
            for p in pods
            if (p.metadata and (p.metadata.labels or {}).get(PROCESS) == process)
            and (p.metadata.labels or {}).get(SPEC) == spec_hash
            and p.metadata.deletionTimestamp is None
        ]
        for pod in new_pods:
            reason = pod_failure(pod, now)
            if reason is not None:
                name = pod.metadata.name if pod.metadata else None
                return Status(done=False, failure=Failure(process, name, reason))
        d = deployments.get(process)
        if d is None:
            return Status(done=False, waiting_for=f"the {process} deployment to appear")
        conditions = d.status.conditions if d.status else None
        for cond in conditions or []:
            if cond.type == "Progressing" and cond.reason == "ProgressDeadlineExceeded":
                pod_name = new_pods[0].metadata.name if new_pods and new_pods[0].metadata else None
                return Status(
                    done=False,
                    failure=Failure(process, pod_name, f"no progress: {cond.message}"),
                )
        pending = deployment_done(d, want)
        if pending is not None:
            return Status(done=False, waiting_for=f"{process}: {pending}")
    return Status(done=True)
