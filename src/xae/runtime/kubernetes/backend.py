"""Runs apps on a Kubernetes cluster: the same plans as on docker, rolled out by the cluster.

`apply` server-side-applies the objects of `manifests` (field manager `xae`), then waits on the
watch cache until every Deployment runs exactly the plan's ready pods. If that fails (the image
cannot be pulled, the process crashes, the health check never passes, the deadline passes),
the Deployments are put back as they were before, so the previous release keeps serving with
pods that never stopped (`maxUnavailable: 0`), and `DeployFailed` carries the pod's last lines.

This is the only module (with its package) that imports the Kubernetes client.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

# lightkube's HTTP transport: httpx2, pydantic's maintained fork of httpx (another package
# than the `httpx` the rest of xae uses), so its transport errors are `httpx2.HTTPError`.
import httpx2
from lightkube import ApiError, Client, codecs
from lightkube.config.kubeconfig import KubeConfig
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Node, Pod, Secret, Service
from lightkube.resources.networking_v1 import NetworkPolicy

from xae.domain.health import advice, check_label, still_serving
from xae.domain.policy import LOG_TAIL
from xae.domain.resources import parse_memory
from xae.domain.runas import ROOT_IN_USERNS
from xae.domain.states import InstanceState
from xae.errors import DeployFailed, RuntimeFailure, RuntimeUnavailable
from xae.runtime.base import AppPlan, Instance, Progress, RoutesChanged
from xae.runtime.kubernetes import manifests as m
from xae.runtime.kubernetes.cache import ClusterCache
from xae.runtime.kubernetes.decoding import warm_up
from xae.runtime.kubernetes.rollout import Wanted, evaluate

log = logging.getLogger("xae.runtime.kubernetes")
FIELD_MANAGER = "xae"
SYNC_TIMEOUT = 30.0


def where(kubeconfig: Path | None) -> str:
    """Where the kubeconfig is read from, for messages."""
    return str(kubeconfig) if kubeconfig else "KUBECONFIG or ~/.kube/config"


def connect(kubeconfig: Path | None) -> Client:
    """The process's one Kubernetes client, from `kubeconfig` (None: the environment's).

    Made once where the process starts and handed to `KubernetesOrchestrator`; nothing is
    requested yet (`ping` does that)."""
    try:
        config = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
    except Exception as e:
        raise RuntimeUnavailable(
            f"cannot read the kubeconfig ({where(kubeconfig)}): {e}. Point XAE_KUBECONFIG at a "
            "kubeconfig (`make k8s-up` writes /var/lib/xae/k8s/kubeconfig)"
        ) from e
    # Decoders are built here, while the process has one thread (see `decoding`).
    warm_up()
    # trust_env=False: a proxy from the environment must not capture cluster traffic.
    return Client(config=config, field_manager=FIELD_MANAGER, trust_env=False)


class KubernetesOrchestrator:
    """`xae.runtime.base.Orchestrator` on a Kubernetes cluster, through `client`."""

    name = "kubernetes"

    def __init__(
        self,
        client: Client,
        *,
        plane: str,
        router_cidrs: list[str],
        rollout_timeout: float,
        blocked_cidrs: Sequence[str] = (),
        where: str = "the cluster",
        cache: ClusterCache | None = None,
    ) -> None:
        self.plane = plane
        self.router_cidrs = router_cidrs
        self.blocked_cidrs = tuple(blocked_cidrs)
        self.rollout_timeout = rollout_timeout
        self._deadline = max(10, min(int(rollout_timeout), 3600))
        self._where = where
        self.client = client
        self.cache = cache if cache is not None else ClusterCache(client, plane)
        self._started = threading.Lock()

    # -- Backend -----------------------------------------------------------------------------

    def ping(self) -> None:
        try:
            self.client.get(Namespace, "default")
        except Exception as e:
            raise RuntimeUnavailable(
                f"cannot reach the Kubernetes API ({self._where}): {e}. Start the cluster "
                "(`make k8s-up` for the local one) or fix XAE_KUBECONFIG"
            ) from e

    def list_instances(self, app: str | None = None) -> list[Instance]:
        self._ensure_cache()
        return [_instance(p) for p in self.cache.app_pods(app)]

    def logs(self, instance: Instance, *, tail: int = 100, follow: bool = False) -> Iterator[str]:
        try:
            lines = self.client.log(
                instance.name,
                namespace=instance.labels.get("namespace"),
                follow=follow,
                tail_lines=tail,
                timestamps=True,
                newlines=False,
            )
        except (ApiError, httpx2.HTTPError) as e:
            raise RuntimeFailure(f"cannot read the logs of {instance.name}: {e}") from e
        return _LogStream(lines)

    def remove_app(self, app: str) -> None:
        self._ensure_cache()
        labels: dict[str, Any] = dict(m.app_labels(self.plane, app))
        namespaces: set[str] = set()
        kinds: list[Any] = [Deployment, Service, NetworkPolicy, Secret]
        for kind in kinds:
            for obj in self.client.list(kind, namespace="*", labels=labels):
                namespaces.add(obj.metadata.namespace or "")
                self._delete(kind, obj.metadata.name, obj.metadata.namespace)
        # The ReplicaSets and pods go with their Deployment (background deletion).
        log.info("removed %s from namespaces %s", app, sorted(namespaces))

    def check_userns(self) -> None:
        """Raise `DeployFailed` unless every node's runtime runs pods in user namespaces.

        An image that needs root runs only with `hostUsers: false`, where root in the pod is an
        unprivileged id on the node. A runtime that cannot (containerd before 2.0, runc before
        1.2) would fail every such pod at its sandbox, so the plan is refused up front, with
        what to do. Asked of the API (the nodes' `runtimeHandlers`) on every such deploy.
        """
        try:
            nodes = list(self.client.list(Node))
        except (ApiError, httpx2.HTTPError) as e:
            raise RuntimeUnavailable(f"listing the cluster's nodes failed: {e}") from e
        if not userns_supported(nodes):
            raise DeployFailed(
                "this image runs as root, and the cluster's container runtime cannot give pods "
                "their own user namespace (`hostUsers: false`; it needs containerd 2.0+ and "
                "runc 1.2+), so root in the pod would be root on the node: set a non-root "
                "USER in the Dockerfile (e.g. `USER 10001`) and deploy again"
            )

    # -- Orchestrator -----------------------------------------------------------------------

    def apply(self, plan: AppPlan, progress: Progress) -> None:
        if any(p.spec.root_in_userns for p in m.planned_processes(plan)):
            self.check_userns()
        self._ensure_cache()
        before = {_process_of(d): d for d in self.cache.app_deployments(plan.app)}
        objects = m.app_objects(
            self.plane,
            plan,
            router_cidrs=self.router_cidrs,
            progress_deadline=self._deadline,
            blocked_cidrs=self.blocked_cidrs,
        )
        ns = m.namespace_name(self.plane, plan.owner)
        progress(f"applying v{plan.release} to namespace {ns}")
        generations: dict[str, int] = {}
        try:
            for obj in objects:
                applied = self.client.apply(codecs.from_dict(obj), force=True)
                if obj["kind"] == "Deployment" and applied.metadata is not None:
                    process = _labels(applied).get(m.PROCESS, "")
                    generations[process] = applied.metadata.generation or 0
            self._delete_removed_processes(plan, before)
        except ApiError as e:
            self._restore(plan, before)
            raise DeployFailed(f"the cluster refused the objects of v{plan.release}: {e}") from e
        try:
            self._wait_rolled_out(plan, generations, progress, _serving(before))
        except DeployFailed:
            self._restore(plan, before)
            raise
        self._prune_secrets(plan)
        self._remove_elsewhere(plan)

    def in_sync(self, plan: AppPlan) -> bool:
        self._ensure_cache()
        ns = m.namespace_name(self.plane, plan.owner)
        everywhere = self.cache.app_deployments(plan.app)
        deployed = {
            _process_of(d): d
            for d in everywhere
            if d.metadata is not None and d.metadata.namespace == ns
        }
        if len(deployed) != len(everywhere):
            return False  # some are in another namespace: the app moved to another team
        processes = m.planned_processes(plan)
        if set(deployed) != {p.process for p in processes}:
            return False
        for proc in processes:
            d = deployed[proc.process]
            wanted = m.deployment(self.plane, ns, plan, proc, progress_deadline=self._deadline)
            annotations = (d.metadata.annotations or {}) if d.metadata else {}
            if annotations.get(m.MANIFEST) != wanted["metadata"]["annotations"][m.MANIFEST]:
                return False
        return True

    def apps(self) -> set[str]:
        self._ensure_cache()
        return self.cache.apps()

    def ready_addresses(self, app: str, plan: AppPlan) -> list[str]:
        ports = {
            p.spec.spec_hash: p.spec.port
            for p in m.planned_processes(plan)
            if m.process_type(p.process) == "web" and p.spec.port is not None
        }
        out = []
        for pod in self.cache.app_pods(app):
            port = ports.get(_labels(pod).get(m.SPEC, ""))
            if port is not None and _ready(pod) and _pod_ip(pod):
                out.append(f"{_pod_ip(pod)}:{port}")
        return sorted(out)

    def watch(self, on_routes: RoutesChanged) -> None:
        self._ensure_cache(on_routes)

    def close(self) -> None:
        self.cache.stop()

    # -- internals -------------------------------------------------------------------------

    def _ensure_cache(self, on_routes: RoutesChanged | None = None) -> None:
        with self._started:
            self.cache.start(on_routes)
        if not self.cache.wait_synced(SYNC_TIMEOUT):
            raise RuntimeUnavailable(
                f"could not list the cluster's objects within {SYNC_TIMEOUT:.0f} s "
                f"({self._where}): see the control plane's log"
            )

    def _wait_rolled_out(
        self, plan: AppPlan, generations: dict[str, int], progress: Progress, serving: str | None
    ) -> None:
        """Wait until the cluster runs `plan`; on failure raise `DeployFailed` saying that
        `serving` (`vN` of the web Deployment before, None if there was none) keeps serving."""
        ns = m.namespace_name(self.plane, plan.owner)
        wanted = {
            p.process: Wanted(p.quantity, p.spec.spec_hash, generations.get(p.process, 0))
            for p in m.planned_processes(plan)
        }
        deadline = time.monotonic() + self.rollout_timeout
        said = ""
        with self.cache.changed:
            while True:
                # The condition's lock is reentrant: the cache's readers take it again.
                deployments = {
                    _process_of(d): d
                    for d in self.cache.app_deployments(plan.app)
                    if d.metadata is not None and d.metadata.namespace == ns
                }
                status = evaluate(deployments, wanted, self.cache.app_pods(plan.app))
                if status.done:
                    progress(f"v{plan.release} rolled out")
                    return
                failure = status.failure
                if failure is not None:
                    break
                if status.waiting_for != said:
                    said = status.waiting_for
                    progress(f"waiting for {said}")
                left = deadline - time.monotonic()
                if left <= 0:
                    failure = None
                    break
                self.cache.changed.wait(timeout=min(left, 1.0))
        if failure is None:
            raise DeployFailed(
                f"v{plan.release} of {plan.app} was not rolled out within "
                f"{self.rollout_timeout:.0f} s (still waiting for {said}). "
                f"{still_serving(serving)} See `xae ps` and `xae logs`, or raise "
                "XAE_ROLLOUT_TIMEOUT"
            )
        details: dict[str, Any] = {"process": failure.process}
        tail: list[str] = []
        if failure.pod:
            details["instance"] = failure.pod
            tail = details["log_tail"] = self._log_tail(plan, failure.pod)
        check = plan.health
        probe = (
            check_label(check.path, check.host, check.attempts)
            if check.strict
            else (f"a connection to $PORT, {check.attempts} attempts")
        )
        raise DeployFailed(
            f"new {failure.process} instances of v{plan.release} cannot serve: {failure.reason} "
            f"(health check: {probe}). {still_serving(serving)} "
            f"{advice(answered=False, has_log=bool(tail))}",
            details=details,
        )

    def _log_tail(self, plan: AppPlan, pod: str) -> list[str]:
        # Of a container waiting to be restarted, this is the output of the run that crashed.
        ns = m.namespace_name(self.plane, plan.owner)
        try:
            return list(self.client.log(pod, namespace=ns, tail_lines=LOG_TAIL, newlines=False))
        except Exception:
            return []

    def _restore(self, plan: AppPlan, before: dict[str, Deployment]) -> None:
        """Put the Deployments back as they were; remove the ones that did not exist."""
        ns = m.namespace_name(self.plane, plan.owner)
        for proc in m.planned_processes(plan):
            previous = before.get(proc.process)
            name = m.deployment_name(plan.app, proc.process)
            try:
                if previous is None:
                    self._delete(Deployment, name, ns)
                else:
                    self.client.apply(_reapplicable(previous), force=True)
            except ApiError as e:
                log.error("could not restore %s/%s: %s", ns, name, e)

    def _delete_removed_processes(self, plan: AppPlan, before: dict[str, Deployment]) -> None:
        keep = {p.process for p in m.planned_processes(plan)}
        for process, d in before.items():
            if process not in keep and d.metadata is not None:
                self._delete(Deployment, d.metadata.name, d.metadata.namespace)
        # The Services of split releases no longer in the plan (a split ended or changed).
        ns = m.namespace_name(self.plane, plan.owner)
        labels: dict[str, Any] = dict(m.app_labels(self.plane, plan.app))
        for service in self.client.list(Service, namespace=ns, labels=labels):
            release = _labels(service).get(m.RELEASE)
            if release and f"web-v{release}" not in keep and service.metadata is not None:
                self._delete(Service, service.metadata.name, ns)

    def _prune_secrets(self, plan: AppPlan) -> None:
        """Config Secrets no Deployment of the app refers to any more (old releases')."""
        ns = m.namespace_name(self.plane, plan.owner)
        used = {m.secret_name(plan.app, p.spec.env) for p in m.planned_processes(plan)}
        labels: dict[str, Any] = dict(m.app_labels(self.plane, plan.app))
        for secret in self.client.list(Secret, namespace=ns, labels=labels):
            if secret.metadata is not None and secret.metadata.name not in used:
                self._delete(Secret, secret.metadata.name, ns)

    def _remove_elsewhere(self, plan: AppPlan) -> None:
        """The app's objects in other namespaces than its team's: after the app moved to
        another team, its old pods go once the new ones serve."""
        ns = m.namespace_name(self.plane, plan.owner)
        labels: dict[str, Any] = dict(m.app_labels(self.plane, plan.app))
        kinds: list[Any] = [Deployment, Service, NetworkPolicy, Secret]
        for kind in kinds:
            for obj in self.client.list(kind, namespace="*", labels=labels):
                if obj.metadata is not None and obj.metadata.namespace != ns:
                    self._delete(kind, obj.metadata.name, obj.metadata.namespace)

    def _delete(self, kind: Any, name: str | None, namespace: str | None) -> None:
        if not name:
            return
        try:
            self.client.delete(kind, name, namespace=namespace)
        except ApiError as e:
            if e.status.code != 404:
                what = f"{kind.__name__} {namespace}/{name}"
                raise RuntimeFailure(f"cannot delete {what}: {e}") from e


class _LogStream:
    """A pod's log lines. `close()` from another thread ends a follow at the next line: the
    client offers no way to cut the stream it is reading."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._closed = threading.Event()

    def __iter__(self) -> _LogStream:
        return self

    def __next__(self) -> str:
        if self._closed.is_set():
            raise StopIteration
        try:
            return next(self._lines)
        except (ApiError, httpx2.HTTPError) as e:
            raise RuntimeFailure(f"reading a pod's log failed: {e}") from e

    def close(self) -> None:
        self._closed.set()


def _labels(obj: Any) -> dict[str, str]:
    return dict(obj.metadata.labels or {}) if obj.metadata else {}


def _serving(before: dict[str, Deployment]) -> str | None:
    """`vN` of the web Deployment that served before a rollout, or None if none did."""
    web = before.get("web")
    if web is None or web.metadata is None or not (web.spec and web.spec.replicas):
        return None
    release = (web.metadata.annotations or {}).get(m.RELEASE)
    return f"v{release}" if release else "the previous release"


def _process_of(d: Deployment) -> str:
    return _labels(d).get(m.PROCESS, "")


def _pod_ip(pod: Pod) -> str | None:
    return pod.status.podIP if pod.status else None


def _ready(pod: Pod) -> bool:
    """Ready and not being removed (a terminating pod keeps its Ready condition for a while,
    but leaves the routes at once)."""
    if pod.metadata is not None and pod.metadata.deletionTimestamp is not None:
        return False
    conditions = pod.status.conditions if pod.status else None
    return any(c.type == "Ready" and c.status == "True" for c in conditions or [])


def _reapplicable(d: Deployment) -> Any:
    """The object as xae applied it: without status and server-set metadata."""
    raw = d.to_dict()
    meta = raw.get("metadata", {})
    raw["metadata"] = {
        k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta
    }
    raw.pop("status", None)
    return codecs.from_dict(raw)


_PHASES = {
    "Pending": InstanceState.PENDING,
    "Running": InstanceState.RUNNING,
    "Succeeded": InstanceState.EXITED,
    "Failed": InstanceState.EXITED,
    "Unknown": InstanceState.UNKNOWN,
}
"""Every pod phase Kubernetes documents, as an instance state."""


def _state(pod: Pod) -> InstanceState:
    if pod.metadata is not None and pod.metadata.deletionTimestamp is not None:
        return InstanceState.TERMINATING
    status = pod.status
    if status is None:
        return InstanceState.PENDING
    for c in status.containerStatuses or []:
        if c.state and c.state.waiting is not None:
            if c.state.waiting.reason == "CrashLoopBackOff":
                return InstanceState.CRASHING
            return InstanceState.STARTING
        if c.state and c.state.terminated is not None:
            return InstanceState.EXITED
    return _PHASES.get(status.phase or "Pending", InstanceState.UNKNOWN)


def userns_supported(nodes: list[Node]) -> bool:
    """Whether every node's default runtime handler says it runs pods in user namespaces."""
    if not nodes:
        return False
    for node in nodes:
        handlers = (node.status.runtimeHandlers if node.status else None) or []
        default = next((h for h in handlers if not h.name), None)
        if default is None or default.features is None or not default.features.userNamespaces:
            return False
    return True


def _user(pod: Pod) -> str:
    """Who the pod runs as, as `xae ps` shows it."""
    spec = pod.spec
    if spec is None:
        return ""
    if spec.hostUsers is False:
        return ROOT_IN_USERNS
    context = spec.containers[0].securityContext if spec.containers else None
    uid = context.runAsUser if context else None
    if uid is None and spec.securityContext is not None:
        uid = spec.securityContext.runAsUser
    return "" if uid is None else str(uid)


def _instance(pod: Pod) -> Instance:
    labels = _labels(pod)
    container = pod.spec.containers[0] if pod.spec and pod.spec.containers else None
    limits = (container.resources.limits or {}) if container and container.resources else {}
    port = container.ports[0].containerPort if container and container.ports else None
    status = pod.status
    started: datetime | None = status.startTime if status else None
    exit_code = None
    for c in (status.containerStatuses or []) if status else []:
        if c.state and c.state.terminated is not None:
            exit_code = c.state.terminated.exitCode
    assert pod.metadata is not None
    return Instance(
        id=pod.metadata.uid or "",
        name=pod.metadata.name or "",
        app=labels.get(m.APP, ""),
        process=m.process_type(labels.get(m.PROCESS, "")),
        release=int(labels.get(m.RELEASE, "0") or 0),
        spec_hash=labels.get(m.SPEC, ""),
        state=_state(pod),
        address=_pod_ip(pod),
        port=port,
        memory_bytes=_memory(limits.get("memory")),
        cpus=_cpus(limits.get("cpu")),
        started_at=started,
        exit_code=exit_code,
        labels={"namespace": pod.metadata.namespace or ""},
        ready=_ready(pod),
        user=_user(pod),
    )


def _memory(value: str | None) -> int:
    if not value:
        return 0
    try:
        return int(value)
    except ValueError:
        return parse_memory(value.rstrip("i").upper())


def _cpus(value: str | None) -> float:
    if not value:
        return 0.0
    return int(value[:-1]) / 1000 if value.endswith("m") else float(value)
