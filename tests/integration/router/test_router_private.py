"""The router keeps its secrets: probes only on a private socket, private files, no root workers.

Against a real nginx. The probe attack is performed as an app container performs it: from an
address of this machine outside loopback (a Docker bridge's gateway), to the public listener.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.integration.router.router_harness import (
    NGINX,
    Backend,
    Reply,
    free_port,
    kill_leftover_master,
    non_loopback_ipv4,
    request_from,
    started_router,
)

from xae.config import Settings
from xae.router import NginxRouter, Route
from xae.router import process as router_process
from xae.router.layout import TEMP_KINDS
from xae.router.probe import served_generation
from xae.router.render import GENERATION_PATH, STATUS_PATH

pytestmark = pytest.mark.integration

Get = Callable[..., Reply]
StartBackend = Callable[..., Backend]
PROBES = (GENERATION_PATH, STATUS_PATH, "/__xae/", "/__xae/not_found.txt")


@pytest.fixture
def public_router(state_dir: Path) -> Iterator[NginxRouter]:
    """A router listening on every address, as xae's default (0.0.0.0) does."""
    settings = Settings(
        state_dir=state_dir,
        router_host="0.0.0.0",
        router_port=free_port(),
        tls_port=free_port(),
        nginx_bin=NGINX,
    )
    with started_router(settings) as r:
        yield r


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


@pytest.mark.parametrize("host", ["_xae_", "anything.example.com", "localhost"])
def test_xae_probes_are_404_on_the_public_listener_from_another_address(
    public_router: NginxRouter, host: str
) -> None:
    source = non_loopback_ipv4()
    for path in PROBES:
        reply = request_from(source, public_router.port, host, path)
        assert reply.status == 404, (path, reply.status, reply.text)
        assert str(public_router.status().generation) not in reply.text.split()
        assert "Active connections" not in reply.text


def test_xae_probes_are_404_on_the_public_listener_from_loopback(
    public_router: NginxRouter,
) -> None:
    for path in PROBES:
        assert request_from("127.0.0.1", public_router.port, "_xae_", path).status == 404


def test_the_internal_socket_answers_the_probes(public_router: NginxRouter) -> None:
    socket_path = public_router.paths.internal_socket
    status = public_router.status()
    assert status.running and status.generation is not None
    assert served_generation(socket_path) == status.generation
    stub = subprocess.run(
        ["curl", "-sS", "--unix-socket", str(socket_path), f"http://localhost{STATUS_PATH}"],
        capture_output=True, text=True, timeout=10, check=True,
    )  # fmt: skip
    assert "Active connections" in stub.stdout


def test_no_other_user_can_open_the_internal_socket(public_router: NginxRouter) -> None:
    if os.geteuid() != 0:
        # Root-only by nature; `make test` (and CI) run as root, so this always runs there.
        pytest.skip("only root can run a probe as another user")
    probe = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        "    s.connect(sys.argv[1])\n"
        "except PermissionError:\n"
        "    print('refused')\n"
        "else:\n"
        "    print('connected')\n"
    )
    result = subprocess.run(
        ["/usr/bin/python3", "-c", probe, str(public_router.paths.internal_socket)],
        user="nobody", group="nogroup", capture_output=True, text=True, timeout=30, cwd="/",
    )  # fmt: skip
    assert result.stdout.strip() == "refused", result.stderr


def test_the_router_dir_is_private_and_its_files_are_0600(
    router: NginxRouter, backend: StartBackend, get: Get
) -> None:
    web = backend("web")
    router.apply([Route("web", ["web.localhost"], [web.address])])
    assert get("web.localhost").status == 200
    root = router.paths.root
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    files = [p for p in root.iterdir() if p.is_file()]
    assert {
        "nginx.conf",
        "nginx.pid",
        "error.log",
        "access.log",
        "routes.json",
        "placeholder.key",
        "xae_router.lua",
    } <= {p.name for p in files}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_older_routers_readable_files_are_tightened_on_start(router: NginxRouter) -> None:
    root = router.paths.root
    router.stop()
    root.chmod(0o755)  # what an older xae left
    for name in ("nginx.conf", "error.log", "access.log", "routes.json"):
        (root / name).touch()
        (root / name).chmod(0o644)
    router.start()
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for name in ("nginx.conf", "error.log", "access.log", "routes.json", "nginx.pid"):
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o600, name


def test_workers_run_as_nobody_and_buffer_large_bodies_outside_the_state_dir(
    router: NginxRouter, backend: StartBackend, get: Get, state_dir: Path
) -> None:
    if os.geteuid() != 0:
        # Root-only by nature; `make test` (and CI) run as root, so this always runs there.
        pytest.skip("nginx started by a non-root user cannot switch users: nothing to check")
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    nobody = pwd.getpwnam("nobody").pw_uid
    status = router.status()
    assert status.pid is not None
    workers = router_process.active_workers(status.pid)
    assert workers and all(_uid(w) == nobody for w in workers)

    temp = router.paths.temp
    assert state_dir not in temp.parents
    parent = temp.stat()
    assert parent.st_uid == 0 and not parent.st_mode & 0o022
    for kind in TEMP_KINDS:
        info = (temp / kind).lstat()
        assert stat.S_ISDIR(info.st_mode) and info.st_uid == nobody
        assert stat.S_IMODE(info.st_mode) == 0o700

    web = backend("web")
    router.apply([Route("web", ["web.localhost"], [web.address])])
    body = os.urandom(3 * 1024 * 1024)  # over client_body_buffer_size: written to body/
    reply = get("web.localhost", method="POST", body=body)
    assert reply.status == 200 and reply.json()["body_len"] == len(body)


def test_stop_removes_the_worker_temp_dirs(router: NginxRouter) -> None:
    if router.paths.worker_temp is None:
        # Root-only by nature; `make test` (and CI) run as root, so this always runs there.
        pytest.skip("as a non-root user the temp dirs are inside the router dir")
    assert router.paths.worker_temp.is_dir()
    router.stop()
    assert not router.paths.worker_temp.exists()


def test_a_master_killed_outright_is_replaced_despite_its_stale_socket(
    router: NginxRouter, backend: StartBackend, get: Get
) -> None:
    web = backend("web")
    router.apply([Route("web", ["web.localhost"], [web.address])])
    kill_leftover_master(router)  # SIGKILL: nginx cannot remove its socket
    assert not router.status().running
    router.start()
    assert router.status().running
    assert get("web.localhost").json()["name"] == "web"
