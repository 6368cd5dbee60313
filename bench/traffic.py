"""Request throughput through xae's router, each compared with a reference in the same run.

On this shared 2-core machine absolute requests/s move by tens of percent between minutes, so
every number here is a ratio of two loads run back to back, in rounds (the order alternating),
with the median and the range over the rounds: the router against a direct hit on the same
container, HTTPS against plain HTTP through the same router to the same app, and a bare nginx
proxy (a static `upstream`, what the router was before its Lua balancer) for scale. Every load
is one bounded `wrk` run.
"""

from __future__ import annotations

import contextlib
import re
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROUNDS = 3
SECONDS = 5


@dataclass(frozen=True)
class Load:
    rps: float
    p99_ms: float


@dataclass(frozen=True)
class Ratio:
    """`subject` against `reference`, round by round."""

    subject: list[Load]
    reference: list[Load]

    @property
    def ratios(self) -> list[float]:
        return [s.rps / r.rps for s, r in zip(self.subject, self.reference, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def rps(self, which: str) -> float:
        loads: list[Load] = getattr(self, which)
        return statistics.median(load.rps for load in loads)

    def p99(self, which: str) -> float:
        loads: list[Load] = getattr(self, which)
        return statistics.median(load.p99_ms for load in loads)

    @property
    def added_p99(self) -> list[float]:
        return [s.p99_ms - r.p99_ms for s, r in zip(self.subject, self.reference, strict=True)]

    def spread(self) -> str:
        low, high = min(self.ratios), max(self.ratios)
        return f"{self.ratio:.2f}× (rounds {low:.2f}–{high:.2f})"


def wrk(
    url: str,
    host: str | None,
    *,
    connections: int = 32,
    close: bool = False,
    seconds: int = SECONDS,
) -> Load:
    """One bounded wrk run. `close`: a new connection (for HTTPS a full handshake: wrk never
    resumes a session) for every request."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if host:
        args += ["-H", f"Host: {host}"]
    if close:
        args += ["-H", "Connection: close"]
    out = subprocess.run(
        [*args, url], capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    if not rps or not p99:
        raise SystemExit(f"unexpected wrk output:\n{out}")
    errors = r"Non-2xx or 3xx responses|Socket errors: .*(connect|read|write|timeout) [1-9]"
    if re.search(errors, out):
        raise SystemExit(f"wrk saw errors against {url}:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return Load(float(rps.group(1)), float(p99.group(1)) * scale)


def rounds(
    loads: dict[str, Callable[[], Load]], before: Callable[[], None] | None = None
) -> dict[str, list[Load]]:
    """ROUNDS rounds of every load, the order rotating from round to round; `before` runs
    before each load."""
    names = list(loads)
    seen: dict[str, list[Load]] = {name: [] for name in names}
    for n in range(ROUNDS):
        for name in names[n % len(names) :] + names[: n % len(names)]:
            if before is not None:
                before()
            seen[name].append(loads[name]())
    return seen


def time_wait(address: str) -> int:
    """Connections to `address` (ip:port) in TIME_WAIT on this host."""
    ip, port = address.rsplit(":", 1)
    out = subprocess.run(
        ["ss", "-Htan", "state", "time-wait", "dst", ip, "dport", "=", f":{port}"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return len(out.splitlines())


def settle(address: str, most: int = 16000, timeout: float = 75) -> None:
    """Wait (bounded) until no more than `most` connections to `address` linger in TIME_WAIT
    (room left for a 2 s load's ~6,000 new ones).

    An app that closes every connection (gunicorn's sync workers) leaves one TIME_WAIT per
    request for 60 s, on the load generator's side for a direct hit and on the router's side
    through it; both share the host's ~28,000 ephemeral ports per destination, and a load that
    starts with them used up measures the port search, not the app or the router."""
    deadline = time.monotonic() + timeout
    while time_wait(address) > most and time.monotonic() < deadline:
        time.sleep(1)


def fetch_url(url: str) -> str:
    try:
        response = httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return ""
    return response.text if response.status_code == 200 else ""


def until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the bare nginx proxy")
        time.sleep(0.05)


@contextlib.contextmanager
def bare_nginx(address: str) -> Iterator[int]:
    """A minimal nginx reverse proxy to `address` with a static upstream and keepalive, no
    logs: what any nginx-based router starts from, and what xae's was before the Lua balancer."""
    with tempfile.TemporaryDirectory() as tmp:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            bare_port = int(sock.getsockname()[1])
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(
            f"worker_processes auto; pid {tmp}/nginx.pid; error_log {tmp}/error.log;\n"
            "events { worker_connections 4096; }\n"
            f"http {{ access_log off; client_body_temp_path {tmp}/body; "
            f"proxy_temp_path {tmp}/proxy;\n"
            f"  upstream u {{ server {address}; keepalive 64; }}\n"
            f"  server {{ listen 127.0.0.1:{bare_port}; location / {{ proxy_pass http://u; "
            'proxy_http_version 1.1; proxy_set_header Connection ""; } } }\n'
        )
        subprocess.run(["nginx", "-c", str(conf)], check=True, capture_output=True, timeout=30)
        try:
            until(lambda: bool(fetch_url(f"http://127.0.0.1:{bare_port}/")), timeout=10)
            yield bare_port
        finally:
            subprocess.run(
                ["nginx", "-c", str(conf), "-s", "quit"], check=False, capture_output=True
            )
