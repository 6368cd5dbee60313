"""Builds are confined, proven against the real engine, kernel and firewall: a Dockerfile's
`RUN` steps see the configured memory and CPU limits, cannot hold more processes than the PIDs
limit, cannot connect to the host or to other containers, and a build that overruns its
deadline is stopped without leaving an image or a container behind. (Package installs through
the proxy still work inside the jail: test_builder_images.py builds the python and node
stacks.) Each test runs on its own plane, whose build network and firewall are removed after."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import httpx
import pytest

from xae.builder.build import BuiltImage, build_image
from xae.builder.buildcgroup import CGROUP_ROOT, parent_name
from xae.builder.jail import remove_plane_jail
from xae.config import Settings
from xae.errors import BuildFailed

pytestmark = pytest.mark.integration

RUN_ID = uuid.uuid4().hex[:8]
PLANE = f"itjail-{RUN_ID}"


@pytest.fixture(scope="module")
def client(engine: docker.DockerClient) -> Iterator[docker.DockerClient]:
    yield engine
    remove_plane_jail(engine, PLANE)


@pytest.fixture
def build(
    client: docker.DockerClient, tmp_path: Path
) -> Iterator[Callable[..., tuple[BuiltImage, list[str]]]]:
    """Builds a Dockerfile on the test's plane with the given settings; removes its image."""
    refs: list[str] = []

    def run(
        dockerfile: str,
        app: str,
        log: list[str] | None = None,
        files: dict[str, str] | None = None,
        **overrides: object,
    ) -> tuple[BuiltImage, list[str]]:
        src = tmp_path / app
        src.mkdir()
        (src / "Dockerfile").write_text(dockerfile)
        for name, text in (files or {}).items():
            (src / name).write_text(text)
        settings = Settings(plane=PLANE, **overrides)  # type: ignore[arg-type]
        lines = log if log is not None else []
        refs.append(f"xae/app-{app}:v1")
        built = build_image(client, src, app=app, tag="v1", settings=settings, log=lines.append)
        return built, lines

    yield run
    for ref in refs:
        with contextlib.suppress(docker.errors.ImageNotFound):  # a failed build tags nothing
            client.images.remove(ref, force=True)


def _app(kind: str) -> str:
    return f"jail-{kind}-{RUN_ID}"


def _build_cgroups() -> list[Path]:
    """The build cgroups left under the plane's parent (control files aside)."""
    return [p for p in (CGROUP_ROOT / "pids" / parent_name(PLANE)).iterdir() if p.is_dir()]


def _printed(log: list[str], key: str) -> str:
    values = [line.split("=", 1)[1] for line in log if line.startswith(f"{key}=")]
    assert values, f"the build step printed no {key}=...: {log[-20:]}"
    return values[-1]


def test_a_build_step_runs_with_the_configured_memory_and_cpu_limits_in_its_pids_cgroup(
    build: Callable[..., tuple[BuiltImage, list[str]]],
) -> None:
    _, log = build(
        "FROM xae/base\n"
        f"RUN echo run={RUN_ID}"
        " && echo memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
        " && echo memsw=$(cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes)"
        " && echo quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)"
        " && echo period=$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
        " && echo pidscgroup=$(grep :pids: /proc/self/cgroup)\n",
        _app("limits"),
        build_memory="768M",
        build_cpus=0.5,
        build_pids=300,
    )
    assert int(_printed(log, "memory")) == 768 * 1024**2
    assert int(_printed(log, "memsw")) == 768 * 1024**2, "no swap on top of the memory limit"
    assert int(_printed(log, "quota")) == 50_000
    assert int(_printed(log, "period")) == 100_000
    # The kernel counts the step's processes against pids.max of the build's own cgroup, the
    # parent of the step's container (whose own pids.max reads "max"): see the next test.
    assert re.fullmatch(
        rf"\d+:pids:/{parent_name(PLANE)}/[0-9a-f]{{16}}/[0-9a-f]{{64}}",
        _printed(log, "pidscgroup"),
    )


def test_a_build_step_cannot_hold_more_processes_than_the_pids_limit(
    build: Callable[..., tuple[BuiltImage, list[str]]],
) -> None:
    log: list[str] = []
    started = time.monotonic()
    with pytest.raises(BuildFailed, match="non-zero code") as raised:
        build(
            "FROM xae/base\n"
            # dash (/bin/sh) gives up at the first failed fork instead of retrying
            f"RUN i=0; while [ $i -lt 500 ]; do sleep 600 & i=$((i+1)); echo holding=$i; done"
            f" # {RUN_ID}\n",
            _app("forks"),
            log=log,
            build_pids=64,
        )
    held = int(_printed(log, "holding"))
    print(f"a step with build_pids=64 held {held} processes ({time.monotonic() - started:.1f}s)")
    assert 50 <= held < 64, "the shell, `sleep`s and the failed fork all count against 64"
    assert "fork" in raised.value.message.lower()
    assert _build_cgroups() == [], "the build's cgroup (and every step in it) is gone"


class HostServer:
    """A TCP server on all of the host's addresses that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("0.0.0.0", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def _host_address() -> str:
    """The host's address on its default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        return str(probe.getsockname()[0])


PROBE = """
import socket, struct, sys
def gateway():
    for line in open("/proc/net/route").read().splitlines()[1:]:
        fields = line.split()
        if fields[1] == "00000000":
            return socket.inet_ntoa(struct.pack("<L", int(fields[2], 16)))
targets = [("gateway", gateway(), PORT)] + [(name, addr, port) for name, addr, port in TARGETS]
for name, address, port in targets:
    try:
        socket.create_connection((address, port), timeout=3).close()
        print(f"probe {name} {address}:{port} REACHED", flush=True)
    except OSError as e:
        print(f"probe {name} {address}:{port} blocked ({e.strerror or e})", flush=True)
print("resolved", socket.getaddrinfo("pypi.org", 443)[0][4][0], flush=True)
socket.create_connection(("pypi.org", 443), timeout=10).close()
print("internet reached", flush=True)
"""


def test_a_build_step_reaches_the_internet_but_neither_the_host_nor_other_containers(
    client: docker.DockerClient,
    build: Callable[..., tuple[BuiltImage, list[str]]],
) -> None:
    server = HostServer()
    other = client.containers.run(
        "xae/stack-python",
        ["python3", "-m", "http.server", "8000"],
        detach=True,
        labels={"xae.test": RUN_ID},
    )
    try:
        other.reload()
        other_ip = other.attrs["NetworkSettings"]["IPAddress"]
        deadline = time.monotonic() + 30
        while True:  # the other container serves: blocked below means blocked, not absent
            try:
                if httpx.get(f"http://{other_ip}:8000/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the other container did not serve"
            time.sleep(0.1)
        # Without the jail, a container reaches the host's listeners through its gateway.
        gateway = other.attrs["NetworkSettings"]["Gateway"]  # docker0, as a container sees it
        client.containers.run(
            "xae/base",
            ["bash", "-c", f"echo > /dev/tcp/{gateway}/{server.port}"],
            remove=True,
        )
        assert server.accepted == 1

        targets = [
            ("host", _host_address(), server.port),
            ("docker0", gateway, server.port),
            ("container", other_ip, 8000),
        ]
        probe = PROBE.replace("PORT", str(server.port)).replace("TARGETS", repr(targets))
        _, log = build(
            f"FROM xae/stack-python\nCOPY probe.py /tmp/\nRUN python3 /tmp/probe.py # {RUN_ID}\n",
            _app("net"),
            files={"probe.py": probe},
        )
    finally:
        other.remove(force=True)
        server.close()
    probes = [line for line in log if line.startswith("probe ")]
    print("\n".join(probes))
    assert len(probes) == 4
    assert all(" blocked (" in line for line in probes), probes
    assert server.accepted == 1, "the build's attempts never reached the host's server"
    assert any(line.startswith("resolved ") for line in log)
    assert "internet reached" in log


def test_a_build_that_overruns_its_timeout_is_stopped_and_leaves_nothing_behind(
    client: docker.DockerClient,
    build: Callable[..., tuple[BuiltImage, list[str]]],
) -> None:
    marker = f"overrun-{RUN_ID}"
    app = _app("slow")
    log: list[str] = []
    started = time.monotonic()
    with pytest.raises(BuildFailed, match=r"timed out after 5 s and was stopped") as raised:
        build(
            f"FROM xae/base\nRUN echo started && sleep 600 # {marker}\n",
            app,
            log=log,
            build_timeout=5,
        )
    elapsed = time.monotonic() - started
    print(f"a build with build_timeout=5 failed after {elapsed:.1f}s")
    assert elapsed < 5 + 20
    assert "started" in log, "the step did run before it was stopped"
    assert "started" in raised.value.message
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(f"xae/app-{app}:v1")
    leftovers = [
        c.id
        for c in client.containers.list(all=True)
        if marker in " ".join(c.attrs["Config"].get("Cmd") or [])
    ]
    assert leftovers == [], "the step's container was killed and removed"
    assert _build_cgroups() == []


def test_package_registries_stay_reachable_from_a_build_step(
    build: Callable[..., tuple[BuiltImage, list[str]]],
) -> None:
    """Uncached steps (the run id is in each), so the downloads really happen in the jail."""
    _, log = build(
        "FROM xae/stack-python\n"
        f"RUN pip download --no-deps --no-cache-dir -d /tmp/dl six # {RUN_ID}\n"
        "USER root\n"
        f"RUN apt-get update # {RUN_ID}\n",
        _app("pypi"),
    )
    assert any(line.startswith("Saved /tmp/dl/six-") for line in log), log[-20:]
    assert any(line.startswith("Reading package lists") for line in log), log[-20:]
    _, log = build(f"FROM xae/stack-node\nRUN npm view express name # {RUN_ID}\n", _app("npm"))
    assert "express" in log, log[-20:]
