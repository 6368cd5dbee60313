"""One app must not stall the others, and an interrupted deploy never stays half done.

Issue 7, findings 6 and 9, performed for real against the tests' own control plane: a health
path with control characters is refused; an app whose health check hangs does not delay the
healing of another; an app that cannot be reconciled is named by `xae status`; and a control
plane killed during a rollout fails that release at its next start and removes its instances.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.harness import BIN, Plane, wait_for

pytestmark = pytest.mark.e2e

HEAL_BOUND = 10.0
"""A killed instance of a healthy app serves again within this, whatever other apps do."""


def deployed_hang_app(plane: Plane, app_source: Callable[[str], Path], prefix: str) -> str:
    app = plane.new_app(prefix)
    plane.deploy(app, app_source("hang"))
    assert plane.serving(app, "hello from")
    return app


def reconciler_component(plane: Plane) -> dict[str, Any]:
    # `xae status` exits 1 while a component is unhealthy; its JSON is printed either way.
    result = plane.xae("status", "--json", check=False)
    components = json.loads(result.stdout)["components"]
    found: dict[str, Any] = next(c for c in components if c["name"] == "reconciler")
    return found


@pytest.mark.backends("docker")
@pytest.mark.parametrize(
    ("path", "shown"),
    [("/a\tb", "control character (U+0009)"), ("/up\r\nX-Injected: 1", "(U+000D)")],
)
def test_a_health_path_with_control_characters_is_refused(
    plane: Plane, path: str, shown: str
) -> None:
    app = plane.new_app("ctl")

    result = plane.xae("apps:update", "--app", app, "--health-path", path, check=False)
    assert result.returncode == 1
    assert "health check path" in result.stderr and shown in result.stderr

    response = httpx.patch(
        f"{plane.api}/v1/apps/{app}",
        json={"health_path": path},
        headers={"Authorization": f"Bearer {plane.token}"},
        timeout=30,
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and shown in error["message"]
    assert plane.xae_json("apps:info", app)["health"]["path"] == "/"


@pytest.mark.backends("docker")
def test_a_health_check_that_could_take_hours_is_refused_naming_the_bound(plane: Plane) -> None:
    app = plane.new_app("long")
    result = plane.xae(
        "apps:update",
        "--app",
        app,
        "--health-timeout",
        "60",
        "--health-attempts",
        "1000",
        check=False,
    )
    assert result.returncode == 1
    assert "at most 600 s" in result.stderr


def test_a_hanging_health_check_does_not_delay_healing_another_app(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    slow = deployed_hang_app(plane, app_source, "slow")
    healthy = deployed_hang_app(plane, app_source, "heal")
    # Within the bound (timeout × attempts = 600 s): every probe of the slow app hangs until its
    # 1 s timeout, for a start budget of 600 attempts × 0.25 s = 150 s.
    plane.xae(
        "apps:update",
        "--app",
        slow,
        "--health-path",
        "/hang",
        "--health-timeout",
        "1",
        "--health-attempts",
        "600",
    )
    # On Kubernetes the new health check is a new pod template, so a second pod may already be
    # rolling out beside the first: every running instance goes.
    slow_victims = {i["name"] for i in plane.instances(slow)}
    assert slow_victims, f"{slow} has no running instance to delete"
    for name in slow_victims:
        plane.delete_instance(name)
    # The slow app's replacement is being health-checked (and hangs) from now on.
    wait_for(
        lambda: [i for i in plane.instances(slow) if i["name"] not in slow_victims],
        timeout=60,
        what="the slow app's replacement instance to start",
    )

    [victim] = plane.instances(healthy)
    plane.delete_instance(victim["name"])
    killed = time.monotonic()
    wait_for(
        lambda: (
            plane.serving(healthy, "hello from")
            and victim["name"] not in {i["name"] for i in plane.instances(healthy)}
        ),
        timeout=HEAL_BOUND,
        what=f"{healthy} to serve again from a new instance",
        interval=0.1,
    )
    took = time.monotonic() - killed

    assert took < HEAL_BOUND
    if plane.backend == "docker":
        # The slow app's pass is still stuck in its own check (it delayed only itself), and
        # `xae status` says so once it has run past the reconcile deadline (5 s). (On
        # kubernetes the kubelet runs the probes; no reconcile pass ever waits on them.)
        wait_for(
            lambda: (
                "slow passes still running: " in (d := reconciler_component(plane)["detail"])
                and slow in d
            ),
            timeout=30,
            what=f"`xae status` to list {slow}'s pass as still running",
        )

    # Let the slow app's pass end (its check stops once its instance is gone), so it can heal.
    plane.xae("apps:update", "--app", slow, "--health-path", "/")
    for instance in plane.instances(slow):
        plane.delete_instance(instance["name"])
    wait_for(lambda: plane.serving(slow, "hello from"), timeout=60, what=f"{slow} to heal")


def test_an_app_that_cannot_be_reconciled_is_named_by_status_until_it_recovers(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app = deployed_hang_app(plane, app_source, "fail")
    plane.xae(
        "apps:update",
        "--app",
        app,
        "--health-path",
        "/hang",
        "--health-timeout",
        "0.5",
        "--health-attempts",
        "2",
    )
    # On Kubernetes the new health check is a new pod template, so a second pod may already be
    # rolling out beside the first: every running instance goes.
    victims = plane.instances(app)
    assert victims, f"{app} has no running instance to delete"
    for victim in victims:
        plane.delete_instance(victim["name"])

    failing = wait_for(
        lambda: (c := reconciler_component(plane))["healthy"] is False and app in c["detail"] and c,
        timeout=120,
        what=f"`xae status` to name {app}",
    )
    assert "did not pass the health check" in failing["detail"]
    # It backs off instead of being retried every tick, and says when it is tried again.
    assert "error; next pass at" in failing["detail"] or "next pass now" in failing["detail"]
    assert failing["hint"]

    plane.xae("apps:update", "--app", app, "--health-path", "/")
    wait_for(lambda: plane.serving(app, "hello from"), timeout=120, what=f"{app} to heal")
    wait_for(
        lambda: app not in reconciler_component(plane)["detail"],
        timeout=30,
        what="the failure to leave `xae status`",
    )


def test_a_rollout_interrupted_by_a_killed_control_plane_is_failed_at_the_next_start(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    source = app_source("hang")
    app = plane.new_app("intr")
    plane.deploy(app, source)
    # A path makes the check strict (an HTTP answer, not only a connection), so on Kubernetes
    # too v2 never becomes ready: its pods accept connections and never answer.
    plane.xae(
        "apps:update", "--app", app, "--health-path", "/", "--health-timeout", "1",
        "--health-attempts", "600",
    )  # fmt: skip
    (source / "hang-everything").write_text("v2 never answers its health check\n")
    deploy = subprocess.Popen(
        [str(BIN / "xae"), "deploy", str(source), "--app", app],
        env=plane.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # The rollout of v2 is in its health gate once v2's instance runs.
        wait_for(
            lambda: [i for i in plane.instances(app) if i["release"] == 2],
            timeout=300,
            what="v2's instance to start (the deploy's health gate)",
        )
        pid = int((plane.state_dir / "xae.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), 10, "the control plane to die")
        deploy.wait(timeout=30)
    finally:
        if deploy.poll() is None:
            deploy.kill()
            deploy.wait(timeout=10)

    plane.admin("start")

    releases = {r["version"]: r for r in plane.xae_json("releases", "--app", app)}
    assert releases[2]["status"] == "failed"
    assert releases[2]["failure_reason"] == (
        "interrupted: the control plane stopped during its rollout"
    )
    assert "interrupted: the control plane stopped" in plane.xae("releases", "--app", app).stdout
    assert releases[1]["status"] == "succeeded"
    assert plane.xae_json("apps:info", app)["release"] == 1
    wait_for(
        lambda: [i["release"] for i in plane.xae_json("apps:info", app)["instances"]] == [1],
        timeout=60,
        what="no instance of the interrupted v2 to remain",
    )
    wait_for(lambda: plane.serving(app, "hello from"), timeout=30, what="v1 to serve")
