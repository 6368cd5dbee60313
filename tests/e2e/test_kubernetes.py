"""What the kubernetes backend creates, checked in the cluster as an operator would.

The behaviour users see (deploys, scaling, config, rollbacks, logs, healing) is covered for
both backends by the other e2e modules; this module checks the cluster side: the owner's
namespace enforces Pod Security `restricted`, limits from `ps:resize` are the pods' limits,
probes come from the health check, config lives in a Secret (not in the pod spec), and
`apps:destroy` leaves nothing behind.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import Plane, wait_for
from tests.e2e.test_rollout import deployed_flask

pytestmark = [pytest.mark.e2e, pytest.mark.backends("kubernetes")]


def objects(plane: Plane, kinds: str, app: str) -> list[dict[str, Any]]:
    out = plane.kubectl(
        "-n", plane.namespace, "get", kinds, "-l", f"xae.dev/app={app}", "-o", "json"
    ).stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def test_pods_are_hardened_limited_and_probed(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app, _ = deployed_flask(plane, app_source, "kpod")
    plane.xae("config:set", "SECRET_TOKEN=s3cr3t-value", "--app", app)
    plane.xae("ps:resize", "web", "--memory", "256M", "--cpus", "0.5", "--app", app)
    assert plane.get(app).status_code == 200

    ns = json.loads(plane.kubectl("get", "namespace", plane.namespace, "-o", "json").stdout)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"

    [deployment] = objects(plane, "deployments", app)
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pods = [p for p in objects(plane, "pods", app) if not p["metadata"].get("deletionTimestamp")]
    assert pods
    for pod in pods:
        spec = pod["spec"]
        [container] = spec["containers"]
        assert container["resources"]["limits"] == {
            "cpu": "500m",
            "memory": str(256 * 1024**2),
            "ephemeral-storage": str(1024**3),
        }
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001
        assert spec["automountServiceAccountToken"] is False
        assert container["readinessProbe"]["tcpSocket"]["port"] == 5000
        assert container["livenessProbe"]["tcpSocket"]["port"] == 5000
        # Config comes from a Secret: the value is not in the pod spec.
        assert "s3cr3t-value" not in json.dumps(pod)
        [source] = container["envFrom"]
        assert source["secretRef"]["name"].startswith(f"{app}-env-")
        assert plane.exec(pod["metadata"]["name"], "id", "-u").stdout.strip() == "10001"


def test_a_health_path_becomes_http_probes(plane: Plane, app_source: Callable[[str], Path]) -> None:
    app, _ = deployed_flask(plane, app_source, "kprobe")
    plane.xae("apps:update", "--app", app, "--health-path", "/")

    def container() -> dict[str, Any]:
        [deployment] = objects(plane, "deployments", app)
        spec: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
        return spec

    # The reconciler rolls the new probes out on its next pass.
    wait_for(lambda: "httpGet" in container()["readinessProbe"], timeout=60, what="HTTP probes")
    probe = container()["readinessProbe"]["httpGet"]
    # The probe asks with the app's own host name, as the router does.
    assert probe == {
        "path": "/",
        "port": 5000,
        "scheme": "HTTP",
        "httpHeaders": [{"name": "Host", "value": f"{app}.localhost"}],
    }
    assert container()["startupProbe"]["httpGet"]["path"] == "/"
    wait_for(lambda: plane.get(app).status_code == 200, timeout=60, what="the app to serve")


def test_destroy_removes_every_object_of_the_app(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app, _ = deployed_flask(plane, app_source, "kgone")
    kinds = "deployments,services,networkpolicies,secrets,pods,endpointslices"
    assert {o["kind"] for o in objects(plane, kinds, app)} >= {
        "Deployment",
        "Service",
        "NetworkPolicy",
        "Secret",
        "Pod",
        "EndpointSlice",
    }
    plane.xae("apps:destroy", app, "--confirm", app)
    plane.apps.remove(app)
    wait_for(lambda: objects(plane, kinds, app) == [], timeout=90, what=f"{app}'s objects to go")
    assert plane.get(app).status_code == 404
