"""Helpers for router integration tests: real HTTP backends on loopback, a tiny HTTP client.

Backends are `http.server` threads on 127.0.0.x addresses (standing in for container addresses
on a Docker bridge); every process and thread started here is stopped at teardown.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from xae.config import Settings
from xae.router import NginxRouter
from xae.router import process as router_process

NGINX = "/usr/sbin/nginx"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: BackendServer

    def _answer(self, body_len: int) -> None:
        payload = json.dumps(
            {
                "name": self.server.name,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body_len": body_len,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self._echo_upgraded()
            return
        if self.path.startswith("/sleep/"):
            time.sleep(min(float(self.path.removeprefix("/sleep/")), 10))
        self._answer(0)

    def _echo_upgraded(self) -> None:
        """Switch protocols, then echo one line back: enough to see an Upgrade pass through."""
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.end_headers()
        self.wfile.flush()
        line = self.rfile.readline(1024)
        self.wfile.write(b"echo:" + line)
        self.wfile.flush()
        self.close_connection = True

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        remaining, received = length, 0
        while remaining:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                break
            received += len(chunk)
            remaining -= len(chunk)
        self._answer(received)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class BackendServer(ThreadingHTTPServer):
    daemon_threads = True
    name = ""


@dataclass
class Backend:
    """One fake app instance: answers every request with JSON naming itself."""

    name: str
    server: BackendServer
    thread: threading.Thread

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def close(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join(timeout=10)
        self.server.server_close()


def kill_leftover_master(router: NginxRouter) -> None:
    """Teardown safety net: SIGKILL our master (identified via /proc) and its workers, and
    remove the workers' temp dirs outside the state dir."""
    pid = router_process.live_master(router.paths.pid, router.paths.conf)
    if pid is None:
        if router.paths.worker_temp is not None:
            shutil.rmtree(router.paths.worker_temp, ignore_errors=True)
        return
    family = [pid, *router_process.children(pid)]
    for member in family:
        if router_process.title(member).startswith("nginx:"):
            os.kill(member, signal.SIGKILL)
    router_process.wait_until(lambda: not any(map(router_process.is_alive, family)), 10)
    if router.paths.worker_temp is not None:
        shutil.rmtree(router.paths.worker_temp, ignore_errors=True)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data

    @property
    def text(self) -> str:
        return self.body.decode()


def request(
    port: int,
    host: str,
    path: str = "/",
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> Reply:
    """One request to the router on its own connection, with `Host: host`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        return Reply(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        conn.close()


def non_loopback_ipv4() -> str:
    """An IPv4 address of this machine outside 127.0.0.0/8 (e.g. a Docker bridge's gateway),
    so a client bound to it is what an app container looks like to the router."""
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"],
        capture_output=True, text=True, check=True, timeout=10,
    ).stdout  # fmt: skip
    for line in out.splitlines():
        fields = line.split()
        if "inet" in fields:
            address = fields[fields.index("inet") + 1].split("/")[0]
            if not address.startswith("127."):
                return address
    raise AssertionError(f"this machine has no non-loopback IPv4 address: {out!r}")


def request_from(
    source: str, port: int, host: str, path: str = "/", timeout: float = 10.0
) -> Reply:
    """A GET sent from `source` to `source:port`, as a client on that network sends it."""
    conn = http.client.HTTPConnection(source, port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return Reply(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        conn.close()


@contextmanager
def started_router(settings: Settings) -> Iterator[NginxRouter]:
    """A started router, stopped (or its master killed) when the block ends."""
    r = NginxRouter(settings)
    r.start()
    try:
        yield r
    finally:
        try:
            r.stop()
        finally:
            kill_leftover_master(r)
