"""Apps keep serving while xae itself is killed, and xae picks up where it left off."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import docker
import pytest
from tests.e2e.harness import Plane, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.backends("docker")]


def test_sigkill_and_restart_keeps_apps_serving_and_reconciles(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app = plane.new_app("kill")
    plane.deploy(app, app_source("flask"))
    plane.xae("ps:scale", "web=2", "--app", app)

    pid = int((plane.state_dir / "xae.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), 10, "xae to die")

    for _ in range(20):
        assert plane.get(app).status_code == 200

    # While xae is down, one instance dies: the restarted reconciler must replace it.
    client = docker.from_env(version="auto")
    try:
        victim = client.containers.list(filters={"label": f"xae.app={app}"})[0]
        victim.remove(force=True)
        plane.admin("start")
        wait_for(
            lambda: len(client.containers.list(filters={"label": f"xae.app={app}"})) == 2,
            30,
            "the reconciler to replace the removed instance",
        )
    finally:
        client.close()
    wait_for(
        lambda: all(plane.get(app).status_code == 200 for _ in range(10)),
        20,
        "all instances to serve again",
    )
    instances = plane.xae_json("apps:info", app)["instances"]
    assert len(instances) == 2
    assert all(i["state"] == "running" for i in instances)
