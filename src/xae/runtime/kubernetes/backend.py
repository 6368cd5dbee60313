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
from lightkube import ApiError, Client, codecs, operators
from lightkube.config.kubeconfig import KubeConfig
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import CronJob, Job
from lightkube.resources.core_v1 import Event, Namespace, Node, Pod, Secret, Service
from lightkube.resources.networking_v1 import NetworkPolicy
from lightkube.types import CascadeType

from xae.domain.health import advice, check_label, still_serving
from xae.domain.policy import LOG_TAIL
from xae.domain.resources import parse_memory
from xae.domain.runas import ROOT, ROOT_IN_USERNS
from xae.domain.states import InstanceState
from xae.errors import DeployFailed, RuntimeFailure, RuntimeUnavailable
from xae.runtime.base import (
    AppPlan,
    AppSchedule,
    ClusterRun,
    ClusterSkip,
    Instance,
    OneOffResult,
    OneOffSpec,
    OutputLine,
    Progress,
    RoutesChanged,
    ScheduledSpec,
)
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
        kinds: list[Any] = [CronJob, Job, Deployment, Service, NetworkPolicy, Secret]
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

    def run_oneoff(self, spec: OneOffSpec, on_line: OutputLine) -> OneOffResult:
        """A Job in the app's namespace (created here if the app never ran: the release phase
        of a first deploy), behind the app's NetworkPolicy, with its own config Secret."""
        if spec.run_as == ROOT:
            self.check_userns()
        ns = m.namespace_name(self.plane, spec.owner)
        job = m.oneoff_job(self.plane, ns, spec)
        name = job["metadata"]["name"]
        objects = [
            m.namespace(self.plane, spec.owner),
            m.network_policy(self.plane, ns, spec.app, self.router_cidrs, self.blocked_cidrs),
            m.oneoff_secret(self.plane, ns, spec),
            job,
        ]
        try:
            try:
                for obj in objects:
                    self.client.apply(codecs.from_dict(obj), force=True)
            except (ApiError, httpx2.HTTPError) as e:
                raise RuntimeFailure(f"the cluster refused the one-off {name}: {e}") from e
            return self._follow_job(ns, name, spec, on_line)
        finally:
            self._delete_oneoff(ns, name, m.oneoff_secret_name(spec.app, spec.name))

    def prune_oneoffs(self) -> int:
        # Not the cron jobs' runs: the cluster starts and ends those, and the watcher records them.
        labels: dict[str, Any] = {
            m.PLANE: self.plane,
            m.ONEOFF: operators.exists(),
            m.CRON: operators.not_exists(),
        }
        removed = 0
        try:
            for job in self.client.list(Job, namespace="*", labels=labels):
                if job.metadata is not None and job.metadata.name:
                    self._delete(Job, job.metadata.name, job.metadata.namespace)
                    removed += 1
            for secret in self.client.list(Secret, namespace="*", labels=labels):
                if secret.metadata is not None:
                    self._delete(Secret, secret.metadata.name, secret.metadata.namespace)
        except (ApiError, httpx2.HTTPError) as e:
            raise RuntimeUnavailable(
                f"removing the cluster's left-over one-offs failed: {e}"
            ) from e
        return removed

    def _follow_job(
        self, ns: str, name: str, spec: OneOffSpec, on_line: OutputLine
    ) -> OneOffResult:
        deadline = time.monotonic() + spec.timeout + ONEOFF_GRACE
        reader: threading.Thread | None = None
        while time.monotonic() < deadline:
            pod = self._job_pod(ns, name)
            if pod is not None and reader is None and _started(pod):
                assert pod.metadata is not None
                reader = threading.Thread(
                    target=self._pump_log,
                    args=(ns, pod.metadata.name or "", on_line),
                    daemon=True,
                    name="oneoff-log",
                )
                reader.start()
            if pod is not None:
                stuck = _stuck(pod)
                if stuck:
                    raise RuntimeFailure(f"the one-off {name} cannot start: {stuck}")
            job = self._get_job(ns, name)
            finished = _job_finished(job)
            if finished is not None:
                if reader is not None:
                    reader.join(timeout=5)
                if finished == "DeadlineExceeded":
                    return OneOffResult(exit_code=None, timed_out=True)
                pod = self._job_pod(ns, name)
                return OneOffResult(exit_code=_exit_code(pod) if pod else None)
            if reader is not None and reader.is_alive():
                reader.join(timeout=0.5)  # woken early when the output ends
            else:
                # Not started yet, or its output ended and the Job's status is catching up:
                # nothing to wait on but time.
                time.sleep(0.25)
        return OneOffResult(exit_code=None, timed_out=True)

    def _pump_log(self, ns: str, pod: str, on_line: OutputLine) -> None:
        try:
            for line in self.client.log(pod, namespace=ns, follow=True, newlines=False):
                on_line(line[:4096])
        except (ApiError, httpx2.HTTPError) as e:
            log.warning("reading the output of one-off pod %s/%s failed: %s", ns, pod, e)

    def _job_pod(self, ns: str, job: str) -> Pod | None:
        try:
            pods = list(self.client.list(Pod, namespace=ns, labels={"job-name": job}))
        except (ApiError, httpx2.HTTPError) as e:
            raise RuntimeUnavailable(f"reading the one-off {job} failed: {e}") from e
        return pods[0] if pods else None

    def _get_job(self, ns: str, name: str) -> Job:
        try:
            return self.client.get(Job, name, namespace=ns)
        except (ApiError, httpx2.HTTPError) as e:
            raise RuntimeUnavailable(f"reading the one-off {name} failed: {e}") from e

    def _delete_oneoff(self, ns: str, job: str, secret: str) -> None:
        try:
            self._delete(Job, job, ns)
        except RuntimeFailure as e:  # the TTL controller removes it later; the Secret now
            log.error("could not delete the one-off Job %s/%s: %s", ns, job, e)
        self._delete(Secret, secret, ns)

    # -- CronCluster -------------------------------------------------------------------------

    def apply_schedules(self, schedules: list[AppSchedule]) -> None:
        """Each app's cron jobs as CronJobs in its team's namespace, applied only when their
        manifest changed; CronJobs no app wants any more are deleted with their Jobs and pods,
        and cron config Secrets nothing refers to any more with them."""
        cron: dict[str, Any] = {m.PLANE: self.plane, m.CRON: operators.exists()}
        try:
            existing = {
                (o.metadata.namespace or "", o.metadata.name or ""): o
                for o in self.client.list(CronJob, namespace="*", labels=cron)
                if o.metadata is not None
            }
        except (ApiError, httpx2.HTTPError) as e:
            raise RuntimeUnavailable(f"listing the cluster's CronJobs failed: {e}") from e
        wanted: set[tuple[str, str]] = set()
        secrets: set[tuple[str, str]] = set()
        for schedule in schedules:
            ns = m.namespace_name(self.plane, schedule.owner)
            for spec in schedule.jobs:
                manifest = m.cron_job(self.plane, ns, spec)
                key = (ns, manifest["metadata"]["name"])
                wanted.add(key)
                secrets.add((ns, m.cron_secret_name(schedule.app, spec.oneoff.env)))
                have = existing.get(key)
                digest = manifest["metadata"]["annotations"][m.MANIFEST]
                if have is not None and _annotations(have).get(m.MANIFEST) == digest:
                    continue
                try:
                    self._apply_cron_job(schedule, ns, spec, manifest)
                except (RuntimeFailure, DeployFailed) as e:
                    # One app's refusal must not keep the others' jobs from the cluster.
                    log.error("cron job %s of %s not applied: %s", spec.job, schedule.app, e)
        for (ns, name), _obj in existing.items():
            if (ns, name) not in wanted:
                self._delete(CronJob, name, ns)
        self._prune_cron_secrets(secrets)

    def _apply_cron_job(
        self, schedule: AppSchedule, ns: str, spec: ScheduledSpec, manifest: dict[str, Any]
    ) -> None:
        if spec.oneoff.run_as == ROOT:
            self.check_userns()
        objects = [
            m.namespace(self.plane, schedule.owner),
            m.network_policy(self.plane, ns, schedule.app, self.router_cidrs, self.blocked_cidrs),
            m.cron_secret(self.plane, ns, schedule.app, spec.oneoff.env),
            manifest,
        ]
        try:
            for obj in objects:
                self.client.apply(codecs.from_dict(obj), force=True)
        except (ApiError, httpx2.HTTPError) as e:
            raise RuntimeFailure(
                f"the cluster refused CronJob {manifest['metadata']['name']}: {e}"
            ) from e

    def _prune_cron_secrets(self, used: set[tuple[str, str]]) -> None:
        """Cron config Secrets no CronJob and no unfinished Job refers to (an older config's:
        a pod of a run still starting must find its Secret)."""
        cron: dict[str, Any] = {m.PLANE: self.plane, m.CRON: operators.exists()}
        try:
            for job in self.client.list(Job, namespace="*", labels=cron):
                if _job_finished(job) is None and job.metadata is not None:
                    ns = job.metadata.namespace or ""
                    used |= {(ns, name) for name in _secret_refs(job)}
            for secret in self.client.list(Secret, namespace="*", labels=cron):
                meta = secret.metadata
                if meta is not None and (meta.namespace or "", meta.name or "") not in used:
                    self._delete(Secret, meta.name, meta.namespace)
        except (ApiError, httpx2.HTTPError) as e:
            raise RuntimeUnavailable(f"pruning the cron jobs' config failed: {e}") from e

    def start_scheduled(self, app: str, job: str, name: str) -> None:
        labels: dict[str, Any] = {**m.app_labels(self.plane, app), m.CRON: job}
        try:
            found = list(self.client.list(CronJob, namespace="*", labels=labels))
            if not found:
                raise RuntimeFailure(
                    f"the cluster has no CronJob for cron job {job} of {app} yet: try again "
                    "in a few seconds"
                )
            manifest = m.manual_job(found[0].to_dict(), name)
            self.client.create(codecs.from_dict(manifest))
        except (ApiError, httpx2.HTTPError) as e:
            raise RuntimeFailure(f"the cluster refused to start a run of {job}: {e}") from e

    def cluster_runs(self) -> list[ClusterRun]:
        cron: dict[str, Any] = {m.PLANE: self.plane, m.CRON: operators.exists()}
        try:
            jobs = list(self.client.list(Job, namespace="*", labels=cron))
            pods = list(self.client.list(Pod, namespace="*", labels=cron))
        except (ApiError, httpx2.HTTPError) as e:
            raise RuntimeUnavailable(f"listing the cluster's cron runs failed: {e}") from e
        by_job = {(p.metadata.namespace, _labels(p).get("job-name")): p for p in pods if p.metadata}
        return [_cluster_run(job, by_job) for job in jobs if job.metadata is not None]

    def run_output(self, run: ClusterRun, limit: int) -> list[str]:
        try:
            pod = self._job_pod(run.namespace, run.name)
            if pod is None or pod.metadata is None:
                return []
            lines = self.client.log(
                pod.metadata.name or "", namespace=run.namespace, tail_lines=limit, newlines=False
            )
            return [line[:4096] for line in lines]
        except (ApiError, httpx2.HTTPError, RuntimeUnavailable) as e:
            log.warning("reading the output of cron run %s failed: %s", run.name, e)
            return []

    def cluster_skips(self) -> list[ClusterSkip]:
        cron: dict[str, Any] = {m.PLANE: self.plane, m.CRON: operators.exists()}
        fields: dict[str, Any] = {"involvedObject.kind": "CronJob", "reason": "JobAlreadyActive"}
        try:
            owners = {
                (o.metadata.namespace, o.metadata.name): _labels(o)
                for o in self.client.list(CronJob, namespace="*", labels=cron)
                if o.metadata is not None
            }
            events = list(self.client.list(Event, namespace="*", fields=fields))
        except (ApiError, httpx2.HTTPError) as e:
            raise RuntimeUnavailable(f"listing the cron jobs' events failed: {e}") from e
        skips = []
        for event in events:
            target = event.involvedObject
            labels = owners.get((target.namespace, target.name))
            if labels is None or event.metadata is None:
                continue  # another plane's, or a CronJob already deleted
            series = event.series
            count = (series.count if series else None) or event.count or 1
            last = (series.lastObservedTime if series else None) or event.lastTimestamp
            skips.append(
                ClusterSkip(
                    app=labels.get(m.APP, ""),
                    job=labels.get(m.CRON, ""),
                    key=event.metadata.uid or "",
                    count=count,
                    first_at=event.firstTimestamp or event.eventTime,
                    last_at=last or event.eventTime,
                )
            )
        return skips

    def stop_run(self, run: ClusterRun) -> None:
        self._delete(Job, run.name, run.namespace)

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
        except Exception as e:  # the deploy's failure is what matters; say why here
            log.warning("could not read the log of %s/%s: %s", ns, pod, e)
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
            if m.CRON in _labels(secret):  # the cron jobs' config: `apply_schedules` prunes it
                continue
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
            if kind is Job or kind is CronJob:  # a Job's own default would orphan its pods
                self.client.delete(kind, name, namespace=namespace, cascade=CascadeType.BACKGROUND)
            else:
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


ONEOFF_GRACE = 30.0
"""Seconds past a one-off's timeout xae waits for the cluster to end it (its Job's
`activeDeadlineSeconds` is the timeout) before calling it timed out itself."""
_STUCK = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError"}


def _started(pod: Pod) -> bool:
    """The container runs or ran (it has output to read)."""
    for c in (pod.status.containerStatuses or []) if pod.status else []:
        if c.state and (c.state.running is not None or c.state.terminated is not None):
            return True
    return False


def _stuck(pod: Pod) -> str:
    """Why the pod's container cannot start, when it never will by itself; "" otherwise."""
    for c in (pod.status.containerStatuses or []) if pod.status else []:
        waiting = c.state.waiting if c.state else None
        if waiting is not None and waiting.reason in _STUCK:
            return str(waiting.reason)
    return ""


def _exit_code(pod: Pod) -> int | None:
    for c in (pod.status.containerStatuses or []) if pod.status else []:
        if c.state and c.state.terminated is not None:
            return c.state.terminated.exitCode
    return None


def _job_finished(job: Job) -> str | None:
    """None while the Job runs; else `Complete`, `Failed` or the failure's reason."""
    for c in (job.status.conditions or []) if job.status else []:
        if c.status != "True":
            continue
        if c.type == "Complete":
            return "Complete"
        if c.type == "Failed":
            return c.reason or "Failed"
    return None


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


def _annotations(obj: Any) -> dict[str, str]:
    return dict(obj.metadata.annotations or {}) if obj.metadata else {}


def _secret_refs(job: Job) -> set[str]:
    """The Secrets a Job's pods read their environment from."""
    pod = job.spec.template.spec if job.spec and job.spec.template else None
    names = set()
    for c in (pod.containers or []) if pod else []:
        for source in c.envFrom or []:
            if source.secretRef is not None and source.secretRef.name:
                names.add(source.secretRef.name)
    return names


SCHEDULED_AT = "batch.kubernetes.io/cronjob-scheduled-timestamp"
"""Set by the CronJob controller on each Job it starts: the time it was due (RFC 3339)."""


def _cluster_run(job: Job, pods: dict[tuple[str | None, str | None], Pod]) -> ClusterRun:
    assert job.metadata is not None
    labels = _labels(job)
    due = _annotations(job).get(SCHEDULED_AT)
    finished = _job_finished(job)
    outcome = {None: "running", "Complete": "succeeded", "DeadlineExceeded": "timed_out"}.get(
        finished, "failed"
    )
    pod = pods.get((job.metadata.namespace, job.metadata.name))
    stuck = _stuck(pod) if pod is not None and finished is None else ""
    status = job.status
    ended = None
    if finished is not None and status is not None:
        ended = status.completionTime or max(
            (c.lastTransitionTime for c in status.conditions or [] if c.lastTransitionTime),
            default=None,
        )
    release = labels.get(m.RELEASE, "")
    return ClusterRun(
        app=labels.get(m.APP, ""),
        job=labels.get(m.CRON, ""),
        name=job.metadata.name or "",
        namespace=job.metadata.namespace or "",
        release=int(release) if release.isdigit() else None,
        scheduled_at=datetime.fromisoformat(due) if due else None,
        started_at=(status.startTime if status else None) or job.metadata.creationTimestamp,
        finished_at=ended,
        outcome=outcome,
        exit_code=_exit_code(pod) if pod is not None and finished is not None else None,
        stuck=stuck,
    )
