"""A deploy's Dockerfile `RUN` step cannot reach the plane's own router or API through the
build network's gateway or the host's address, while the deploy itself still succeeds."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from tests.e2e.harness import Plane

PROBE = """
import socket, struct, sys
route = [l.split() for l in open("/proc/net/route").read().splitlines()[1:]]
gateway = next(socket.inet_ntoa(struct.pack("<L", int(f[2], 16))) for f in route
               if f[1] == "00000000")
reached = False
for address in (gateway, HOST):
    for port in PORTS:
        try:
            socket.create_connection((address, port), timeout=3).close()
            print(f"probe {address}:{port} REACHED", flush=True)
            reached = True
        except OSError as e:
            print(f"probe {address}:{port} blocked ({e.strerror or e})", flush=True)
sys.exit(1 if reached else 0)
"""


def _host_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent
        return str(probe.getsockname()[0])


@pytest.mark.e2e
@pytest.mark.backends("docker")
def test_a_build_step_cannot_reach_the_platforms_router_or_api(
    plane: Plane, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    ports = (plane.router_port, plane.api_port)
    (source / "probe.py").write_text(
        PROBE.replace("HOST", repr(_host_address())).replace("PORTS", repr(ports))
    )
    (source / "Dockerfile").write_text(
        "FROM xae/stack-python\n"
        "COPY probe.py /tmp/probe.py\n"
        f"RUN python3 /tmp/probe.py # {plane.name}\n"
        "USER 10001\n"  # the app then runs unprivileged on any engine, remapping or not
        "EXPOSE 8000\n"
        'CMD ["python3", "-m", "http.server", "8000"]\n'
    )
    app = plane.new_app("jail")
    result = plane.deploy(app, source, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count(" blocked (") == 4, output
    assert "REACHED" not in output
    assert plane.get(app).status_code == 200
