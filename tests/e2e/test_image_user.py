"""Images run as their own user; an image that needs root gets it only inside a user namespace.

What a user checks: the app serves; `xae ps` says who it runs as; and, as an operator would
check it from the host, the app's process is not root on the machine (`/proc/<pid>/status`).
On docker, root inside needs the daemon's `userns-remap` (bootstrap turns it on); an engine
without it refuses the image with what to do. On a cluster whose runtime cannot give pods a
user namespace (the local one: containerd 1.6), a root image is refused the same way.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import docker
import pytest
from tests.e2e.harness import Plane, wait_for

pytestmark = [pytest.mark.e2e]


def _engine_remaps() -> bool:
    client = docker.from_env(version="auto")
    try:
        return any("name=userns" in str(o) for o in client.info().get("SecurityOptions") or [])
    finally:
        client.close()


def _remap_base(plane: Plane) -> int:
    """Where uid 0 of a container lands on the host: 0, or the start of dockremap's range."""
    if plane.backend != "docker" or not _engine_remaps():
        return 0
    for line in Path("/etc/subuid").read_text().splitlines():
        name, start, _count = line.split(":")
        if name == "dockremap":
            return int(start)
    raise AssertionError("the engine remaps users but /etc/subuid has no dockremap range")


def _host_uids(pid: int) -> list[int]:
    """Real, effective, saved and filesystem uid of `pid`, as the host sees them."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(v) for v in line.split()[1:]]
    raise AssertionError(f"no Uid line for pid {pid}")


def _host_pid(plane: Plane, instance: str) -> int:
    """The host pid of the instance's app process (the container's init's child on docker)."""
    if plane.backend == "docker":
        pid = int(
            subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Pid}}", instance],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return int(children[0]) if children else pid
    pod = json.loads(
        plane.kubectl("-n", plane.namespace, "get", "pod", instance, "-o", "json").stdout
    )
    container_id = pod["status"]["containerStatuses"][0]["containerID"].split("://")[-1]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if container_id in (proc / "cgroup").read_text() and "server.py" in (
                    (proc / "cmdline").read_text()
                ):
                    return int(proc.name)
            except OSError:
                continue
    raise AssertionError(f"no process of container {container_id} on this host")


def test_an_image_with_its_own_user_runs_as_that_uid(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app = plane.new_app("usr")
    plane.deploy(app, app_source("user-image"))

    assert "uid=2345 wrote=ok" in plane.get(app).text
    [instance] = plane.instances(app)
    assert instance["user"] == "2345"
    uids = _host_uids(_host_pid(plane, instance["name"]))
    assert uids == [_remap_base(plane) + 2345] * 4


@pytest.mark.backends("docker")
def test_a_root_image_serves_as_an_unprivileged_id_on_the_host(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    if not _engine_remaps():
        pytest.fail(
            "dockerd does not remap users, so a root image cannot run safely: `make up` turns "
            "userns-remap on (unless XAE_USERNS_REMAP=off)"
        )
    app = plane.new_app("root")
    plane.deploy(app, app_source("root-image"))

    # Root inside: it wrote under /root and listens on port 80 ...
    assert "uid=0 wrote=ok" in plane.get(app).text
    [instance] = plane.instances(app)
    assert instance["user"] == "root (userns)"
    # ... and an unprivileged id on the host, with every other confinement item in place.
    uids = _host_uids(_host_pid(plane, instance["name"]))
    assert uids == [_remap_base(plane)] * 4
    assert _remap_base(plane) > 0
    host = json.loads(
        subprocess.run(
            ["docker", "inspect", instance["name"]], capture_output=True, text=True, check=True
        ).stdout
    )[0]["HostConfig"]
    assert host["CapDrop"] == ["ALL"]
    # Back inside the namespace only: what a root master needs to drop to its workers' user.
    assert sorted(host["CapAdd"]) == [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_SETGID",
        "CAP_SETUID",
    ] or sorted(host["CapAdd"]) == ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["PidsLimit"] > 0 and host["Memory"] > 0 and host["NanoCpus"] > 0


@pytest.mark.backends("kubernetes")
def test_a_root_image_is_refused_where_root_would_be_root_on_the_host(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    """The local cluster's runtime has no user namespaces. (On docker, `make up` turns
    userns-remap on; the refusal by an engine without it is a unit test:
    `test_docker_backend.py::test_a_root_image_is_refused_by_an_engine_that_does_not_remap`.)"""
    app = plane.new_app("rootno")
    result = plane.deploy(app, app_source("root-image"), check=False)

    assert result.returncode != 0
    assert "runs as root" in result.stderr
    assert "USER" in result.stderr
    wait_for(lambda: plane.instances(app) == [], 30, "no instance of the refused image")


@pytest.mark.backends("docker")
def test_an_image_deploy_runs_as_the_images_own_user_on_docker(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app = plane.new_app("usrimg")
    plane.deploy(app, app_source("user-image"))
    [built] = plane.xae_json("releases", "--app", app)

    plane.xae("deploy", "--image", built["image"], "--port", "8000", "--app", app)

    assert plane.xae_json("releases", "--app", app)[0]["version"] == 2
    wait_for(lambda: "uid=2345 wrote=ok" in plane.get(app).text, 30, "v2 serving")
    [instance] = plane.instances(app)
    assert instance["user"] == "2345"
