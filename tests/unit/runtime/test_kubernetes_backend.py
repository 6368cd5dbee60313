"""The kubernetes orchestrator on a fake cluster: apply, restore on failure, secret pruning,
removal and what it reports, with a fake lightkube client that records every apply and delete
and plays the Deployment controller (in the spirit of deis's fake scheduler), and a fake watch
cache. The real cluster is exercised by tests/e2e (every e2e test runs on kubernetes too)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from lightkube import ApiError, codecs
from lightkube.models.meta_v1 import Status

from xae.domain.runas import ROOT
from xae.errors import DeployFailed, RuntimeFailure
from xae.runtime.base import AppPlan, HealthCheck, InstanceSpec, ProcessPlan
from xae.runtime.kubernetes import manifests as m
from xae.runtime.kubernetes.backend import KubernetesOrchestrator

NS = "xae-p1-ann"
Key = tuple[str, str, str]


def plan(
    *,
    release: int = 1,
    env: dict[str, str] | None = None,
    image: str = "reg/shop:1",
    processes: tuple[str, ...] = ("web",),
    quantity: int = 2,
) -> AppPlan:
    procs = []
    for process in processes:
        spec = InstanceSpec(
            app="shop",
            process=process,
            release=release,
            image=image,
            command="python app.py",
            env=dict(env or {"A": "1"}),
            port=5000 if process == "web" else None,
            memory_bytes=128 * 1024**2,
            cpus=0.5,
            pids_limit=64,
            spec_hash=f"{process}-{release}-{image}",
        )
        procs.append(ProcessPlan(process, quantity, spec))
    return AppPlan(
        app="shop",
        owner="ann",
        release=release,
        processes=tuple(procs),
        health=HealthCheck("/", 1.0, 3, 0.1, False),
        drain_seconds=1.0,
    )


class FakeCache:
    """`ClusterCache`'s reads, over dicts the fake client fills."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.deployments: dict[Key, Any] = {}
        self.pods: dict[Key, Any] = {}
        self.started = False

    def start(self, on_routes: Any = None) -> None:
        self.started = True

    def wait_synced(self, timeout: float) -> bool:
        return True

    def stop(self) -> None:
        self.started = False

    def app_deployments(self, app: str) -> list[Any]:
        with self.changed:
            return [d for d in self.deployments.values() if d.metadata.labels.get(m.APP) == app]

    def app_pods(self, app: str | None = None) -> list[Any]:
        with self.changed:
            return [
                p for p in self.pods.values() if app is None or p.metadata.labels.get(m.APP) == app
            ]

    def apps(self) -> set[str]:
        with self.changed:
            return {
                o.metadata.labels.get(m.APP)
                for o in [*self.deployments.values(), *self.pods.values()]
            }


class FakeCluster:
    """The lightkube `Client` calls the orchestrator makes. A Deployment's pods come up as
    `outcome` says: `ready` (rolled out at once), `crash` (CrashLoopBackOff) or `hang`."""

    def __init__(self, cache: FakeCache) -> None:
        self.cache = cache
        self.objects: dict[Key, Any] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.outcome = "ready"
        self.refuse_kind: str | None = None
        self.log_lines = ["2024-05-01T12:00:00Z Traceback: boom"]

    def apply(self, obj: Any, force: bool = False) -> Any:
        raw = obj.to_dict()
        kind, meta = raw["kind"], raw["metadata"]
        key = (kind, meta.get("namespace") or "", meta["name"])
        self.calls.append(("apply", kind, meta["name"]))
        if kind == self.refuse_kind:
            raise ApiError(status=Status(code=422, message=f"{kind} is invalid"))
        previous = self.objects.get(key)
        meta["generation"] = (previous.metadata.generation if previous is not None else 0) + 1
        stored = codecs.from_dict(raw)
        self.objects[key] = stored
        if kind == "Deployment":
            self._control(stored)
        return stored

    def delete(self, kind: Any, name: str, namespace: str | None = None) -> None:
        self.calls.append(("delete", kind.__name__, name))
        key = (kind.__name__, namespace or "", name)
        if key not in self.objects:
            raise ApiError(status=Status(code=404, message="not found"))
        del self.objects[key]
        if kind.__name__ == "Deployment":
            with self.cache.changed:
                self.cache.deployments.pop(key, None)
                for pod_key in [
                    k
                    for k, p in self.cache.pods.items()
                    if p.metadata.labels.get(m.PROCESS) == self._process(key)
                ]:
                    del self.cache.pods[pod_key]

    def list(
        self, kind: Any, namespace: str = "*", labels: dict[str, str] | None = None
    ) -> Iterator[Any]:
        for (k, ns, _), obj in list(self.objects.items()):
            if k != kind.__name__ or namespace not in ("*", ns):
                continue
            if all((obj.metadata.labels or {}).get(a) == b for a, b in (labels or {}).items()):
                yield obj

    def log(self, name: str, **kwargs: Any) -> Iterator[str]:
        return iter(self.log_lines[-(kwargs.get("tail_lines") or 100) :])

    # -- the Deployment controller, simulated --------------------------------------------------

    def _process(self, key: Key) -> str:
        return key[2].rsplit("-", 1)[-1]

    def _control(self, d: Any) -> None:
        meta = d.metadata
        spec_hash = meta.annotations[m.SPEC]
        process = meta.labels[m.PROCESS]
        replicas = d.spec.replicas
        with self.cache.changed:
            for key in [
                k for k, p in self.cache.pods.items() if p.metadata.labels.get(m.PROCESS) == process
            ]:
                if self.outcome == "ready":
                    del self.cache.pods[key]
            if self.outcome == "ready":
                raw = d.to_dict()
                raw["status"] = {
                    "observedGeneration": meta.generation,
                    "replicas": replicas,
                    "updatedReplicas": replicas,
                    "availableReplicas": replicas,
                }
                self.cache.deployments[("Deployment", meta.namespace, meta.name)] = (
                    codecs.from_dict(raw)
                )
            for n in range(replicas):
                self.cache.pods[("Pod", meta.namespace, f"{meta.name}-{spec_hash}-{n}")] = (
                    self._pod(d, spec_hash, n)
                )
            self.cache.changed.notify_all()

    def _pod(self, d: Any, spec_hash: str, n: int) -> Any:
        ready = self.outcome == "ready"
        state: dict[str, Any] = (
            {"waiting": {"reason": "CrashLoopBackOff"}}
            if self.outcome == "crash"
            else {"running": {}}
        )
        container = d.spec.template.spec.containers[0].to_dict()
        return codecs.from_dict(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{d.metadata.name}-{n}",
                    "namespace": d.metadata.namespace,
                    "uid": f"uid-{spec_hash}-{n}",
                    "labels": {**d.spec.template.metadata.labels, m.SPEC: spec_hash},
                },
                "spec": {"containers": [container]},
                "status": {
                    "phase": "Running",
                    "podIP": f"10.1.0.{n + 1}",
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                    "containerStatuses": [
                        {
                            "name": "web",
                            "image": "x",
                            "imageID": "",
                            "ready": ready,
                            "restartCount": 0,
                            "state": state,
                        }
                    ],
                },
            }
        )


@pytest.fixture
def cache() -> FakeCache:
    return FakeCache()


@pytest.fixture
def cluster(cache: FakeCache) -> FakeCluster:
    return FakeCluster(cache)


@pytest.fixture
def k8s(cluster: FakeCluster, cache: FakeCache) -> KubernetesOrchestrator:
    return KubernetesOrchestrator(
        cluster,  # type: ignore[arg-type]
        plane="p1",
        router_cidrs=["10.88.0.1/32"],
        rollout_timeout=0.3,
        cache=cache,  # type: ignore[arg-type]
    )


def applied(cluster: FakeCluster) -> list[tuple[str, str]]:
    return [(kind, name) for call, kind, name in cluster.calls if call == "apply"]


def test_apply_sends_every_object_in_order_and_returns_once_rolled_out(
    k8s: KubernetesOrchestrator, cluster: FakeCluster
) -> None:
    said: list[str] = []
    k8s.apply(plan(), said.append)
    secret = m.secret_name("shop", {"A": "1"})
    assert applied(cluster) == [
        ("Namespace", NS),
        ("Secret", secret),
        ("NetworkPolicy", "shop"),
        ("Service", "shop"),
        ("Deployment", "shop-web"),
    ]
    assert said[0] == f"applying v1 to namespace {NS}" and said[-1] == "v1 rolled out"
    assert k8s.in_sync(plan())
    assert not k8s.in_sync(plan(release=2))
    assert k8s.ready_addresses("shop", plan()) == ["10.1.0.1:5000", "10.1.0.2:5000"]


def test_a_crashing_release_is_removed_when_nothing_ran_before(
    k8s: KubernetesOrchestrator, cluster: FakeCluster
) -> None:
    cluster.outcome = "crash"
    with pytest.raises(DeployFailed) as failed:
        k8s.apply(plan(), lambda _: None)
    assert "the process keeps exiting" in failed.value.message
    assert "No earlier release was serving" in failed.value.message
    assert failed.value.details["log_tail"] == ["2024-05-01T12:00:00Z Traceback: boom"]
    assert failed.value.details["instance"].startswith("shop-web-")
    assert ("delete", "Deployment", "shop-web") in cluster.calls
    assert ("Deployment", NS, "shop-web") not in cluster.objects


def test_a_failed_rollout_puts_the_previous_deployment_back(
    k8s: KubernetesOrchestrator, cluster: FakeCluster
) -> None:
    k8s.apply(plan(release=1), lambda _: None)
    cluster.outcome = "crash"
    with pytest.raises(DeployFailed, match="v1 keeps serving"):
        k8s.apply(plan(release=2, image="reg/shop:2"), lambda _: None)
    restored = cluster.objects[("Deployment", NS, "shop-web")]
    assert restored.metadata.annotations[m.SPEC] == "web-1-reg/shop:1"
    assert restored.metadata.annotations[m.RELEASE] == "1"


def test_objects_the_cluster_refuses_fail_the_deploy_and_restore(
    k8s: KubernetesOrchestrator, cluster: FakeCluster
) -> None:
    cluster.refuse_kind = "Deployment"
    with pytest.raises(DeployFailed, match="the cluster refused the objects of v1"):
        k8s.apply(plan(), lambda _: None)
    assert ("Deployment", NS, "shop-web") not in cluster.objects


def test_a_rollout_that_never_ends_fails_at_the_deadline(
    k8s: KubernetesOrchestrator, cluster: FakeCluster
) -> None:
    cluster.outcome = "hang"
    with pytest.raises(DeployFailed, match="was not rolled out within"):
        k8s.apply(plan(), lambda _: None)


def test_config_secrets_of_older_releases_are_pruned_after_a_rollout(
    k8s: KubernetesOrchestrator, cluster: FakeCluster
) -> None:
    k8s.apply(plan(release=1, env={"A": "1"}), lambda _: None)
    k8s.apply(plan(release=2, env={"A": "2"}), lambda _: None)
    secrets = {name for kind, _, name in cluster.objects if kind == "Secret"}
    assert secrets == {m.secret_name("shop", {"A": "2"})}


def test_a_failed_rollout_keeps_the_previous_releases_secret(
    k8s: KubernetesOrchestrator, cluster: FakeCluster
) -> None:
    k8s.apply(plan(release=1, env={"A": "1"}), lambda _: None)
    cluster.outcome = "crash"
    with pytest.raises(DeployFailed):
        k8s.apply(plan(release=2, env={"A": "2"}), lambda _: None)
    secrets = {name for kind, _, name in cluster.objects if kind == "Secret"}
    assert m.secret_name("shop", {"A": "1"}) in secrets


def test_a_process_type_dropped_from_the_plan_loses_its_deployment(
    k8s: KubernetesOrchestrator, cluster: FakeCluster
) -> None:
    k8s.apply(plan(processes=("web", "worker")), lambda _: None)
    k8s.apply(plan(release=2, processes=("web",)), lambda _: None)
    assert ("delete", "Deployment", "shop-worker") in cluster.calls
    assert [n for k, _, n in cluster.objects if k == "Deployment"] == ["shop-web"]


def test_remove_app_deletes_every_object_of_the_app(
    k8s: KubernetesOrchestrator, cluster: FakeCluster
) -> None:
    k8s.apply(plan(), lambda _: None)
    k8s.remove_app("shop")
    assert {k for k, _, _ in cluster.objects} == {"Namespace"}  # the owner's, shared


def test_instances_report_pods_state_limits_and_readiness(
    k8s: KubernetesOrchestrator, cluster: FakeCluster
) -> None:
    k8s.apply(plan(), lambda _: None)
    instances = sorted(k8s.list_instances("shop"), key=lambda i: i.name)
    assert [i.name for i in instances] == ["shop-web-0", "shop-web-1"]
    first = instances[0]
    assert (first.process, first.release, first.state, first.ready) == ("web", 1, "running", True)
    assert (first.address, first.port) == ("10.1.0.1", 5000)
    assert first.memory_bytes == 128 * 1024**2 and first.cpus == 0.5
    assert first.labels == {"namespace": NS}
    assert k8s.apps() == {"shop"}


def test_deleting_fails_loudly_for_anything_but_not_found(
    k8s: KubernetesOrchestrator, cluster: FakeCluster
) -> None:
    def forbidden(kind: Any, name: str, namespace: str | None = None) -> None:
        raise ApiError(status=Status(code=403, message="forbidden"))

    k8s.apply(plan(), lambda _: None)
    cluster.delete = forbidden  # type: ignore[method-assign]
    with pytest.raises(RuntimeFailure, match="cannot delete Deployment"):
        k8s.remove_app("shop")


def test_the_ready_addresses_are_those_of_the_plans_web_spec_only(
    k8s: KubernetesOrchestrator,
) -> None:
    k8s.apply(plan(), lambda _: None)
    other = plan(release=2, image="reg/shop:2")
    assert k8s.ready_addresses("shop", other) == []
    no_web = replace(plan(), processes=plan(processes=("worker",)).processes)
    assert k8s.ready_addresses("shop", no_web) == []


# -- images that need root -------------------------------------------------------------------


def _node(name: str, userns: bool | None) -> Any:
    status: dict[str, Any] = {}
    if userns is not None:
        features = {"recursiveReadOnlyMounts": True, "userNamespaces": userns}
        status["runtimeHandlers"] = [{"name": "", "features": features}]
    return codecs.from_dict(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "status": status}
    )


def _root_plan() -> AppPlan:
    base = plan()
    proc = base.processes[0]
    return replace(base, processes=(replace(proc, spec=replace(proc.spec, run_as=ROOT)),))


@pytest.mark.parametrize(
    "nodes",
    [
        [],
        [("n1", None)],  # containerd 1.6 reports no runtime handlers at all
        [("n1", False)],
        [("n1", True), ("n2", None)],  # one node that cannot is enough to refuse
    ],
)
def test_a_root_image_is_refused_before_anything_is_applied_where_a_node_cannot_remap(
    k8s: KubernetesOrchestrator, cluster: FakeCluster, nodes: list[tuple[str, bool | None]]
) -> None:
    for name, userns in nodes:
        cluster.objects[("Node", "", name)] = _node(name, userns)
    with pytest.raises(DeployFailed) as caught:
        k8s.apply(_root_plan(), lambda _: None)
    assert "hostUsers: false" in caught.value.message and "USER" in caught.value.message
    assert applied(cluster) == []


def test_a_root_image_is_applied_with_its_own_user_namespace_where_every_node_can(
    k8s: KubernetesOrchestrator, cluster: FakeCluster
) -> None:
    cluster.objects[("Node", "", "n1")] = _node("n1", True)
    k8s.apply(_root_plan(), lambda _: None)
    deployment = cluster.objects[("Deployment", NS, "shop-web")].to_dict()
    assert deployment["spec"]["template"]["spec"]["hostUsers"] is False
