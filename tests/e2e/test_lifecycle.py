"""The day-to-day loop of a user: scale, change config, roll back, read logs, check status."""

from __future__ import annotations

import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import docker
import pytest
from tests.e2e.harness import BIN, FIXTURES, Plane, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def flask_app(plane: Plane, tmp_path_factory: pytest.TempPathFactory) -> str:
    source = tmp_path_factory.mktemp("flask") / "app"
    shutil.copytree(FIXTURES / "flask", source)
    app = plane.new_app("life")
    plane.deploy(app, source)
    return app


def hostnames(plane: Plane, app: str, requests: int = 60) -> set[str]:
    seen: set[str] = set()
    for _ in range(requests):
        response = plane.get(app)
        assert response.status_code == 200
        match = re.search(r"hello from (\S+)", response.text)
        assert match, response.text
        seen.add(match.group(1))
    return seen


def test_scale_to_three_serves_from_three_instances(plane: Plane, flask_app: str) -> None:
    plane.xae("ps:scale", "web=3", "--app", flask_app)
    ps = plane.xae_json("ps", "--app", flask_app)
    assert [f["quantity"] for f in ps["formation"] if f["type"] == "web"] == [3]
    assert len([i for i in ps["instances"] if i["type"] == "web"]) == 3
    assert len(hostnames(plane, flask_app)) == 3

    plane.xae("ps:scale", "web=1", "--app", flask_app)
    assert len(hostnames(plane, flask_app, 20)) == 1


@pytest.mark.backends("docker")
def test_unknown_process_type_is_refused(plane: Plane, flask_app: str) -> None:
    result = plane.xae("ps:scale", "wrker=2", "--app", flask_app, check=False)
    assert result.returncode == 1
    assert "no process type 'wrker'" in result.stderr


def test_config_set_reaches_the_app_and_rollback_undoes_it(plane: Plane, flask_app: str) -> None:
    before = plane.xae_json("apps:info", flask_app)["release"]
    plane.xae("config:set", "GREETING=hola", "--app", flask_app)
    assert "greeting=hola" in plane.get(flask_app).text
    assert plane.xae_json("config", "--app", flask_app)["GREETING"] == "hola"

    releases = plane.xae_json("releases", "--app", flask_app)
    assert releases[0]["version"] == before + 1
    assert releases[0]["config_keys"] == ["GREETING"]

    plane.xae("rollback", "--app", flask_app)
    assert "greeting=\n" in plane.get(flask_app).text
    info = plane.xae_json("apps:info", flask_app)
    assert info["release"] == before + 2
    assert "GREETING" not in plane.xae_json("config", "--app", flask_app)

    plane.xae("config:set", "GREETING=again", "--app", flask_app)
    plane.xae("config:unset", "GREETING", "--app", flask_app)
    assert "greeting=\n" in plane.get(flask_app).text


@pytest.mark.backends("docker")
def test_resize_is_enforced_by_docker_and_instances_are_hardened(
    plane: Plane, flask_app: str
) -> None:
    plane.xae("ps:resize", "web", "--memory", "256M", "--cpus", "0.5", "--app", flask_app)
    assert plane.get(flask_app).status_code == 200
    web = next(
        f for f in plane.xae_json("ps", "--app", flask_app)["formation"] if f["type"] == "web"
    )
    assert (web["memory"], web["cpus"]) == ("256M", 0.5)

    client = docker.from_env(version="auto")
    containers = client.containers.list(filters={"label": f"xae.app={flask_app}"})
    assert containers
    for container in containers:
        host = container.attrs["HostConfig"]
        assert host["Memory"] == 256 * 1024**2
        assert host["NanoCpus"] == 500_000_000
        assert host["CapDrop"] == ["ALL"]
        assert "no-new-privileges:true" in host["SecurityOpt"]
        assert host["PidsLimit"] and host["PidsLimit"] > 0
        assert host["Init"] is True
        assert host["Privileged"] is False
        assert not host.get("Binds") and not container.attrs["Mounts"]
        assert container.attrs["Config"]["User"] == "10001:10001"
        uid = container.exec_run(["id", "-u"]).output.decode().strip()
        assert uid == "10001"
    client.close()


def test_restart_replaces_instances(plane: Plane, flask_app: str) -> None:
    before = set(hostnames(plane, flask_app, 5))
    plane.xae("ps:restart", "web", "--app", flask_app)
    after = hostnames(plane, flask_app, 5)
    assert before.isdisjoint(after)


def test_logs_show_the_apps_output(plane: Plane, flask_app: str) -> None:
    plane.get(flask_app, "/a-path-to-find-in-logs")
    logs = wait_for(
        lambda: (
            (out := plane.xae("logs", "--app", flask_app).stdout)
            and "a-path-to-find-in-logs" in out
            and out
        ),
        timeout=10,
        what="the request to show in `xae logs`",
    )
    assert f"{flask_app}[web." in logs


def test_logs_follow_streams_new_lines(plane: Plane, flask_app: str) -> None:
    proc = subprocess.Popen(
        [str(BIN / "xae"), "logs", "-f", "-n", "0", "--app", flask_app],
        env=plane.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # The follow attaches asynchronously: keep sending until a request shows up live.
        deadline = time.monotonic() + 20
        seen = False
        while not seen and time.monotonic() < deadline:
            plane.get(flask_app, "/followed-line")
            try:
                while not seen:
                    seen = "followed-line" in lines.get(timeout=0.5)
            except queue.Empty:
                pass
        assert seen, "a request made while following never showed up in `xae logs -f`"
        assert proc.poll() is None, "`xae logs -f` exited instead of following"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        reader.join(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_status_reports_every_component_healthy(plane: Plane) -> None:
    status = plane.xae_json("status")
    names = {c["name"]: c["healthy"] for c in status["components"]}
    assert names == {
        "api": True,
        plane.backend: True,
        "store": True,
        "router": True,
        "reconciler": True,
    }
    assert status["backend"] == plane.backend
    assert status["router"]["address"].endswith(f":{plane.router_port}")
    assert plane.xae("status").returncode == 0


@pytest.mark.backends("docker")
def test_destroy_removes_containers_network_and_route(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app = plane.new_app("gone")
    plane.deploy(app, app_source("static"))
    assert plane.get(app).status_code == 200
    refused = plane.xae("apps:destroy", app, "--confirm", "wrong", check=False)
    assert refused.returncode != 0
    plane.xae("apps:destroy", app, "--confirm", app)
    plane.apps.remove(app)
    client = docker.from_env(version="auto")
    try:
        assert client.containers.list(all=True, filters={"label": f"xae.app={app}"}) == []
        assert client.networks.list(filters={"label": f"xae.app={app}"}) == []
        assert client.images.list(filters={"label": f"xae.app={app}"}) == []
    finally:
        client.close()
    assert plane.get(app).status_code == 404
