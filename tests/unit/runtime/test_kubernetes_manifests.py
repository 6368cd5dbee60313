"""The plan → Kubernetes objects mapping, checked without a cluster."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from xae.domain.runas import IMAGE_USER, ROOT
from xae.runtime.base import AppPlan, HealthCheck, InstanceSpec, ProcessPlan, SplitPlan
from xae.runtime.command import shell_command
from xae.runtime.kubernetes import manifests as m


def spec(
    process: str = "web",
    *,
    port: int | None = 5000,
    env: dict[str, str] | None = None,
    command: str = "gunicorn app:app",
) -> InstanceSpec:
    return InstanceSpec(
        app="shop",
        process=process,
        release=3,
        image="127.0.0.1:5000/xae/app-shop:b7",
        command=command,
        env=env if env is not None else {"GREETING": "hi"},
        port=port,
        memory_bytes=256 * 1024**2,
        cpus=0.5,
        pids_limit=256,
        spec_hash=f"hash-{process}",
    )


def plan(*processes: ProcessPlan, strict: bool = False, owner: str = "ann") -> AppPlan:
    return AppPlan(
        app="shop",
        owner=owner,
        release=3,
        processes=processes or (ProcessPlan("web", 2, spec()),),
        health=HealthCheck(
            path="/healthz" if strict else "/",
            timeout=2.0,
            attempts=120,
            interval=0.25,
            strict=strict,
            host="shop.apps.example",
        ),
        drain_seconds=10.0,
    )


def objects(p: AppPlan) -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in m.app_objects("default", p, router_cidrs=["10.88.0.1/32"], progress_deadline=180):
        by_kind.setdefault(obj["kind"], []).append(obj)
    return by_kind


def container(p: AppPlan, process: str = "web") -> dict[str, Any]:
    [d] = [d for d in objects(p)["Deployment"] if d["metadata"]["name"] == f"shop-{process}"]
    result: dict[str, Any] = d["spec"]["template"]["spec"]["containers"][0]
    return result


def test_namespaces_are_per_owner_and_valid_dns_labels() -> None:
    assert m.namespace_name("default", "ann") == "xae-ann"
    assert m.namespace_name("e2e1", "ann") == "xae-e2e1-ann"
    odd = m.namespace_name("default", "Ann.Smith@example")
    assert odd.startswith("xae-ann-smith-example-") and len(odd) <= 63
    assert odd != m.namespace_name("default", "ann-smith-example")


def test_the_namespace_enforces_pod_security_restricted() -> None:
    [ns] = objects(plan())["Namespace"]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_objects_are_applied_in_dependency_order() -> None:
    kinds = [
        o["kind"] for o in m.app_objects("default", plan(), router_cidrs=[], progress_deadline=60)
    ]
    assert kinds == ["Namespace", "Secret", "NetworkPolicy", "Service", "Deployment"]


def test_config_lives_in_an_immutable_secret_named_by_its_content() -> None:
    [secret] = objects(plan())["Secret"]
    assert secret["immutable"] is True and secret["stringData"] == {"GREETING": "hi"}
    assert container(plan())["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    changed = plan(ProcessPlan("web", 1, spec(env={"GREETING": "hola"})))
    assert objects(changed)["Secret"][0]["metadata"]["name"] != secret["metadata"]["name"]
    # The value reaches the pod only through the Secret (the supervisor script contains "hi").
    assert "GREETING" not in str(container(plan()))
    assert all(e.get("value") != "hi" for e in container(plan())["env"])


def test_the_network_policy_admits_only_the_router() -> None:
    [policy] = objects(plan())["NetworkPolicy"]
    assert policy["spec"]["podSelector"]["matchLabels"][m.APP] == "shop"
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"] == [{"from": [{"ipBlock": {"cidr": "10.88.0.1/32"}}]}]


def test_web_gets_a_headless_service_and_workers_none() -> None:
    [service] = objects(plan())["Service"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"][m.PROCESS] == "web"
    workers_only = plan(ProcessPlan("worker", 1, spec("worker", port=None)))
    assert "Service" not in objects(workers_only)


def test_deployments_roll_without_unavailability_and_carry_limits() -> None:
    [d] = objects(plan())["Deployment"]
    assert d["spec"]["replicas"] == 2
    assert d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    c = container(plan())
    assert c["resources"]["limits"] == {"cpu": "500m", "memory": str(256 * 1024**2)}
    assert c["resources"]["requests"] == {"cpu": "50m", "memory": str(256 * 1024**2)}
    assert c["command"] == shell_command("gunicorn app:app")
    assert {"name": "PORT", "value": "5000"} in c["env"]


def test_containers_meet_the_restricted_profile() -> None:
    c = container(plan())
    security = c["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    [d] = objects(plan())["Deployment"]
    assert d["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_the_default_health_check_probes_the_port_and_a_path_probes_http() -> None:
    loose = container(plan())
    assert loose["readinessProbe"]["tcpSocket"] == {"port": 5000}
    assert loose["startupProbe"]["failureThreshold"] == 30  # 120 attempts × 0.25 s
    strict = container(plan(strict=True))
    assert strict["readinessProbe"]["httpGet"] == {
        "path": "/healthz",
        "port": 5000,
        "httpHeaders": [{"name": "Host", "value": "shop.apps.example"}],
    }
    assert strict["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_an_image_cmd_is_kept_when_there_is_no_command() -> None:
    c = container(plan(ProcessPlan("web", 1, spec(command=""))))
    assert "command" not in c


def test_the_manifest_hash_changes_with_probes_but_not_without_changes() -> None:
    def digest(p: AppPlan) -> str:
        [d] = objects(p)["Deployment"]
        value: str = d["metadata"]["annotations"][m.MANIFEST]
        return value

    assert digest(plan()) == digest(plan())
    assert digest(plan()) != digest(plan(strict=True))


def test_tmp_is_a_bounded_memory_volume_and_the_disk_an_ephemeral_storage_limit() -> None:
    bounded = replace(spec(), tmp_bytes=32 * 1024**2, disk_bytes=1024**3)
    p = plan(ProcessPlan("web", 1, bounded))
    c = container(p)
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    [d] = objects(p)["Deployment"]
    assert d["spec"]["template"]["spec"]["volumes"] == [
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": str(32 * 1024**2)}}
    ]
    assert c["resources"]["limits"]["ephemeral-storage"] == str(1024**3)
    assert c["resources"]["requests"]["ephemeral-storage"] == str(1024**3 // 10)


def test_a_read_only_process_gets_a_read_only_root_filesystem_and_keeps_a_writable_tmp() -> None:
    c = container(plan(ProcessPlan("web", 1, replace(spec(), read_only=True))))
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]


def test_a_writable_process_manifest_is_unchanged_by_the_option() -> None:
    # No `readOnlyRootFilesystem: false`: existing Deployments keep their manifest hash.
    assert "readOnlyRootFilesystem" not in container(plan())["securityContext"]


def test_with_blocked_ranges_pods_connect_nowhere_in_them_but_to_dns() -> None:
    blocked = ["10.0.0.0/8", "169.254.0.0/16"]
    objs = m.app_objects(
        "default",
        plan(),
        router_cidrs=["10.88.0.1/32"],
        progress_deadline=180,
        blocked_cidrs=blocked,
    )
    [policy] = [o for o in objs if o["kind"] == "NetworkPolicy"]
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": blocked}}]},
        {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
    ]
    # Without blocked ranges, egress is not restricted (as before).
    [open_policy] = objects(plan())["NetworkPolicy"]
    assert open_policy["spec"]["policyTypes"] == ["Ingress"] and "egress" not in open_policy["spec"]


# -- who a pod runs as -----------------------------------------------------------------------


def _pod(run_as: str) -> dict[str, Any]:
    proc = ProcessPlan("web", 1, replace(spec(), run_as=run_as))
    template: dict[str, Any] = m.deployment("p1", "ns", plan(proc), proc, progress_deadline=60)[
        "spec"
    ]["template"]
    return template


def test_a_pod_runs_as_its_images_user_and_stays_in_the_hosts_user_namespace() -> None:
    pod = _pod("101:101")["spec"]
    for context in (pod["securityContext"], pod["containers"][0]["securityContext"]):
        assert (context["runAsUser"], context["runAsGroup"]) == (101, 101)
        assert context["runAsNonRoot"] is True
    assert "hostUsers" not in pod


def test_a_root_image_gets_its_own_user_namespace_and_keeps_its_confinement() -> None:
    pod = _pod(ROOT)["spec"]
    assert pod["hostUsers"] is False
    container = pod["containers"][0]["securityContext"]
    assert (container["runAsUser"], container["runAsNonRoot"]) == (0, False)
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert container["allowPrivilegeEscalation"] is False
    assert container["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_app_users_manifest_is_unchanged_so_nothing_rolls_on_upgrade() -> None:
    proc = ProcessPlan("web", 1, spec())
    default = m.deployment("p1", "ns", plan(proc), proc, progress_deadline=60)
    pod = default["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 10001
    assert "hostUsers" not in pod


def test_an_image_deployed_as_is_runs_as_the_app_user_on_a_cluster() -> None:
    pod = _pod(IMAGE_USER)["spec"]
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert "hostUsers" not in pod


def test_a_split_adds_a_deployment_and_a_release_labelled_service_per_other_release() -> None:
    other = ProcessPlan("web", 1, replace(spec(), release=2, spec_hash="hash-v2"))
    split = SplitPlan(weights=((3, 90), (2, 10)), sticky=False, web=(other,))
    by_kind = objects(replace(plan(), split=split))

    deployments = {d["metadata"]["name"]: d for d in by_kind["Deployment"]}
    assert set(deployments) == {"shop-web", "shop-web-v2"}
    extra = deployments["shop-web-v2"]
    assert extra["spec"]["selector"]["matchLabels"][m.PROCESS] == "web-v2"
    assert extra["spec"]["template"]["metadata"]["labels"][m.RELEASE] == "2"
    assert deployments["shop-web"]["spec"]["template"]["metadata"]["labels"][m.RELEASE] == "3"
    services = {s["metadata"]["name"]: s for s in by_kind["Service"]}
    assert set(services) == {"shop", "shop-v2"}
    assert services["shop-v2"]["metadata"]["labels"][m.RELEASE] == "2"
    assert services["shop-v2"]["spec"]["selector"][m.PROCESS] == "web-v2"
    assert m.RELEASE not in services["shop"]["metadata"]["labels"]
    assert m.process_type("web-v2") == "web" and m.process_type("worker") == "worker"


def test_without_a_split_the_manifests_are_unchanged() -> None:
    assert objects(replace(plan(), split=None)) == objects(plan())
