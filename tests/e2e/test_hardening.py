"""Hardened instances, proven by trying to break out: on docker and on the cluster.

Each test performs the attack from inside a real app instance of the tests' own control plane
(the `breakout` fixture app and its `probe.py`): a fork bomb, a memory hog, connections to
everything an app must not reach, writes on a `--read-only` filesystem, a setuid-root binary.
Every probe first proves it works (it reaches its own port, writes where writing is allowed,
finds the setuid bit set), and says "blocked" by an exit code or field a crash cannot produce,
so a broken probe fails the test instead of passing for a blocked attempt.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.e2e.harness import FIXTURES, Plane, wait_for

pytestmark = pytest.mark.e2e

PIDS_LIMIT = 256
"""The plane's PIDs limit per instance (`XAE_PIDS_LIMIT`; the cluster's `podPidsLimit`)."""
BOMB_CAP = 4 * PIDS_LIMIT
"""The fork bomb stops by itself here: an unbounded instance fails the test, not the host."""
PROBE = "/app/probe.py"
BLOCKED = (3, 4)
"""`probe.py connect`: 3 refused or unreachable, 4 timed out; 0 connected; 1 a broken probe."""
HOST_PORTS = {
    22: "sshd",
    2375: "dockerd over TCP",
    2376: "dockerd over TLS",
    2379: "etcd",
    5000: "the image registry",
    5050: "the operator's xae API",
    6443: "the kube-apiserver",
    10250: "the kubelet",
    10255: "the kubelet's read-only port",
}
"""Host services no app may reach, on any of the host's addresses (the xae API of the tests'
plane is added to these)."""


@dataclass
class Apps:
    breakout: str
    neighbour: str


@pytest.fixture(scope="module")
def apps(plane: Plane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apps]:
    source = tmp_path_factory.mktemp("breakout") / "app"
    subprocess.run(["cp", "-r", str(FIXTURES / "breakout"), str(source)], check=True)
    breakout, neighbour = plane.new_app("brk"), plane.new_app("nbr")
    for app in (breakout, neighbour):
        plane.deploy(app, source)
        assert plane.serving(app, "hello from")
    yield Apps(breakout, neighbour)


def instance(plane: Plane, app: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = wait_for(
        lambda: plane.instances(app), timeout=120, what=f"a running instance of {app}"
    )
    return found[0]


def probe(plane: Plane, app: str, *args: str) -> tuple[int, dict[str, Any]]:
    """Run `probe.py ARGS` in `app`'s instance: its exit code and its JSON line."""
    result = plane.exec(instance(plane, app)["name"], "python3", PROBE, *args)
    lines = result.stdout.strip().splitlines()
    assert lines, f"the probe printed nothing (exit {result.returncode}): {result.stderr[-500:]}"
    return result.returncode, json.loads(lines[-1])


def public_address() -> str:
    """The host's address on its default route (what an app's public name resolves to)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.1", 9))  # no packet is sent
        return str(sock.getsockname()[0])


def host_addresses() -> set[str]:
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    return {line.split()[3].split("/")[0] for line in out.splitlines() if " lo " not in f" {line} "}


def test_an_app_reaches_neither_another_app_nor_the_hosts_services(
    plane: Plane, apps: Apps
) -> None:
    own = instance(plane, apps.breakout)["address"]
    neighbour = instance(plane, apps.neighbour)["address"]
    _, found = probe(plane, apps.breakout, "gateway")
    gateway = found["gateway"]
    assert gateway, "the instance has no default route"

    # The probe works: it reaches its own port, and the host at its public address (the
    # router's port, which every app may use, as anyone may).
    assert probe(plane, apps.breakout, "connect", *own.rsplit(":", 1))[0] == 0
    assert probe(plane, apps.breakout, "connect", public_address(), str(plane.router_port))[0] == 0
    # ... and the neighbour is up: the router reaches it.
    assert plane.serving(apps.neighbour, "hello from")

    code, result = probe(plane, apps.breakout, "connect", *neighbour.rsplit(":", 1))
    assert code in BLOCKED, f"{apps.breakout} reached {apps.neighbour}'s instance: {result}"

    ports = {**HOST_PORTS, plane.api_port: "the tests' xae API"}
    targets = [f"{a}:{p}" for a in sorted(host_addresses() | {gateway}) for p in sorted(ports)]
    _, results = probe(plane, apps.breakout, "scan", *targets)
    reached = [
        f"{t} ({ports[int(t.rsplit(':', 1)[1])]})" for t, r in results.items() if r == "connected"
    ]
    assert reached == [], f"an app reached the host's services: {reached}"

    # No engine socket inside (on any common path).
    sockets = ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"]
    _, found = probe(plane, apps.breakout, "exists", PROBE, *sockets)
    assert found.pop(PROBE) is True  # the check itself works
    assert found == dict.fromkeys(sockets, False)


class Watch:
    """Requests to an app through the router, in a bounded loop, while something else runs."""

    def __init__(self, plane: Plane, app: str) -> None:
        self.plane, self.app = plane, app
        self.ok, self.failures = 0, list[str]()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        deadline = time.monotonic() + 300
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                response = self.plane.get(self.app, timeout=5)
                if response.status_code == 200:
                    self.ok += 1
                else:
                    self.failures.append(f"HTTP {response.status_code}")
            except httpx.HTTPError as e:
                self.failures.append(f"{type(e).__name__}: {e}")
            self._stop.wait(0.2)

    def at_least(self, count: int) -> None:
        """Keep watching until `count` answers came back 200 (bounded), so a short event still
        leaves a watch that saw the app serve while and after it ran."""
        wait_for(
            lambda: self.ok >= count or bool(self.failures), 60, f"{count} answers from {self.app}"
        )

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_a_fork_bomb_stays_inside_its_pids_limit_and_other_apps_keep_serving(
    plane: Plane, apps: Apps
) -> None:
    with Watch(plane, apps.neighbour) as watch:
        code, bomb = probe(plane, apps.breakout, "forkbomb", str(BOMB_CAP), "5")
        watch.at_least(10)
    assert code == 0, bomb
    # The kernel stopped it (fork failed) below the limit, not the probe's own cap.
    assert bomb["error"] == "EAGAIN", f"the fork bomb was not stopped by a PIDs limit: {bomb}"
    assert bomb["peak"] <= PIDS_LIMIT, bomb
    assert bomb["forked"] >= PIDS_LIMIT // 2, f"the bomb barely started, a broken probe? {bomb}"
    assert watch.failures == [] and watch.ok >= 10, (watch.ok, watch.failures[:5])
    wait_for(lambda: plane.serving(apps.breakout, "hello from"), 60, "the bombed app to serve")


def restarts(plane: Plane, app: str) -> tuple[str, int, bool]:
    """The instance's name, how often its container restarted, whether it was OOM-killed."""
    name = instance(plane, app)["name"]
    if plane.backend == "kubernetes":
        pod = json.loads(
            plane.kubectl("-n", plane.namespace, "get", "pod", name, "-o", "json").stdout
        )
        [status] = pod["status"]["containerStatuses"]
        last = (status.get("lastState") or {}).get("terminated") or {}
        oom = last.get("reason") == "OOMKilled" or (
            last.get("exitCode") == 137 and kernel_oom_killed_in_pod(pod["metadata"]["uid"])
        )
        return name, int(status["restartCount"]), oom
    state = json.loads(
        subprocess.run(
            ["docker", "inspect", name], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    events = subprocess.run(
        [
            "docker",
            "events",
            "--since",
            state["Created"],
            "--until",
            "0s",
            "--filter",
            f"container={name}",
            "--filter",
            "event=oom",
            "--format",
            "{{.Action}}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    return name, int(state["RestartCount"]), "oom" in events


def kernel_oom_killed_in_pod(uid: str) -> bool:
    """Whether the kernel's OOM killer killed a process of this pod (its log says so).

    The pod's cgroup has the same memory limit as its one container, so on cgroup v1 either
    may hit it first; when the pod's does, containerd (which watches the container's cgroup
    only) reports the kill as a plain `Error` with exit code 137. The kernel's line names the
    cgroup whose limit was hit, and that holds the pod's uid.
    """
    marks = (f"pod{uid}", f"pod{uid.replace('-', '_')}")
    log = subprocess.run(["dmesg"], capture_output=True, text=True, check=True).stdout
    return any(
        "oom-kill:" in line and any(mark in line for mark in marks) for line in log.splitlines()
    )


def test_a_memory_hog_is_oom_killed_alone(plane: Plane, apps: Apps) -> None:
    plane.xae("ps:resize", "web", "--memory", "128M", "--app", apps.breakout)
    wait_for(lambda: plane.serving(apps.breakout, "hello from"), 120, "the resized app to serve")
    hog_before = restarts(plane, apps.breakout)
    neighbour_before = restarts(plane, apps.neighbour)

    with Watch(plane, apps.neighbour) as watch:
        # The instance dies under the request: a 502 or a dropped connection.
        with contextlib.suppress(httpx.HTTPError):
            plane.get(apps.breakout, "/hog", timeout=60)
        hog_after = wait_for(
            lambda: (r := restarts(plane, apps.breakout))[1] > hog_before[1] and r,
            timeout=120,
            what=f"{apps.breakout}'s instance to be OOM-killed and restarted",
        )
        wait_for(lambda: plane.serving(apps.breakout, "hello from"), 120, "the hog to serve again")
        # The kill and restart can take under a second: watch the neighbour a little longer.
        watch.at_least(5)

    # The same instance restarted in place.
    assert hog_after[0] == hog_before[0], (hog_before, hog_after)
    assert hog_after[2] is True, (
        f"the instance restarted, but not for running out of memory: {hog_after}"
    )
    neighbour_after = restarts(plane, apps.neighbour)
    assert neighbour_after == neighbour_before, (neighbour_before, neighbour_after)  # untouched
    assert watch.failures == [] and watch.ok >= 5, (watch.ok, watch.failures[:5])
    plane.xae("ps:resize", "web", "--memory", "512M", "--app", apps.breakout)


WRITABLE = "/tmp/probe"
OUTSIDE = ("/app/probe", "/home/app/probe", "/var/tmp/probe", "/probe")


def test_a_read_only_app_writes_only_to_tmp(plane: Plane, apps: Apps) -> None:
    # Writable before: the app's user owns /app and its home (a read-only layer is the point).
    assert probe(plane, apps.breakout, "write", "/app/probe") == (0, {"result": "written"})
    before = instance(plane, apps.breakout)["name"]

    plane.xae("ps:resize", "web", "--read-only", "--app", apps.breakout)
    [web] = [
        f for f in plane.xae_json("ps", "--app", apps.breakout)["formation"] if f["type"] == "web"
    ]
    assert web["read_only"] is True
    # The change rolls the process out: a new instance, with a read-only root filesystem.
    wait_for(
        lambda: [i for i in plane.instances(apps.breakout) if i["name"] != before],
        timeout=180,
        what="a read-only instance to replace the writable one",
    )
    wait_for(lambda: plane.serving(apps.breakout, "hello from"), 120, "the read-only app to serve")
    try:
        for path in OUTSIDE:
            code, result = probe(plane, apps.breakout, "write", path)
            assert (code, result["result"]) == (3, "refused"), f"{path}: {result}"
            if path != "/probe":  # `/` is root's: denied even when writable
                assert result["errno"] == "EROFS", f"{path}: {result}"
        assert probe(plane, apps.breakout, "write", WRITABLE) == (0, {"result": "written"})
    finally:
        plane.xae("ps:resize", "web", "--no-read-only", "--app", apps.breakout)


def test_a_setuid_root_binary_gives_no_privilege(plane: Plane, apps: Apps) -> None:
    code, result = probe(plane, apps.breakout, "suid", "/app/id-suid")
    assert code == 0, result
    # The binary is what an attacker wants (setuid, owned by root), and the probe runs as the
    # app's user; exec-ing it still leaves the effective uid unchanged (no-new-privileges).
    assert (result["setuid_bit"], result["owner"]) == (True, 0)
    assert result["uid"] != 0
    assert result["euid"] == result["uid"], f"a setuid binary raised privileges: {result}"
