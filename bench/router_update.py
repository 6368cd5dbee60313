"""Route update latency at 1,000 apps: API side (`RouteTable.set`) → the router serving it.

A router of the benchmark's own (a real `NginxRouter`, its own state dir and port) holds 1,000
apps with 3 upstreams each (3,000 upstreams; addresses on loopback that nothing needs to answer,
since they are never requested). One measured app flips between two real HTTP backends on
loopback; each sample is `RouteTable.set(app, [other backend])` followed by requests through
the router until one is answered by the new backend, timed from before the call to that answer.

The same flip is then measured the way xae did it before issue 10 (the nginx config rendered
whole with every app in it, `nginx -t`, a graceful reload, waiting for the new generation), with
the renderer of that commit (`OLD_COMMIT`), on a second nginx of its own, for the comparison in
docs/router.md. The results replace this benchmark's section of docs/benchmarks.md.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

from bench.report import write_section
from bench.run import ROOT, machine
from xae.config import Settings
from xae.control.routes import RouteTable
from xae.router import NginxRouter
from xae.router import process as router_process
from xae.router.base import Route
from xae.router.layout import RouterPaths
from xae.router.probe import served_generation

APPS, UPSTREAMS_PER_APP = 1000, 3
SAMPLES = 200
OLD_SAMPLES = 20
TARGET_P99_MS = 100.0
OLD_COMMIT = "254f95e"
"""The last commit whose router reloaded nginx for every change."""
SECTION = "### Router update latency"
NGINX = "/usr/sbin/nginx"


class _Named(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default (5) drops SYNs under keepalive churn: 1 s retries
    name = ""


def _backend(name: str, ip: str) -> tuple[_Server, str]:
    server = _Server((ip, 0), _Named)
    server.name = name
    threading.Thread(target=server.serve_forever, daemon=True, name=f"bench-{name}").start()
    return server, f"{ip}:{server.server_address[1]}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answer(port: int, host: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        return response.read().decode(errors="replace") if response.status == 200 else ""
    except OSError:
        return ""
    finally:
        conn.close()


def _until_served(port: int, host: str, name: str, deadline: float) -> None:
    while _answer(port, host) != name:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{host} was not served by {name} within the deadline")


def _filler(i: int) -> list[str]:
    return [f"127.1.{i // 200}.{i % 200 + 1}:{8000 + k}" for k in range(UPSTREAMS_PER_APP)]


def _flip(measure: Callable[[str, str], None], port: int, a: str, b: str, n: int) -> list[float]:
    samples: list[float] = []
    for i in range(n):
        address, name = (b, "b") if i % 2 == 0 else (a, "a")
        started = time.monotonic()
        measure(address, name)
        _until_served(port, "measured.localhost", name, started + 30)
        samples.append((time.monotonic() - started) * 1000)
    return samples


def measure_new(a: str, b: str) -> list[float]:
    state = Path(tempfile.mkdtemp(prefix="xae-bench-router-"))
    state.chmod(0o700)
    settings = Settings(
        state_dir=state,
        router_host="127.0.0.1",
        router_port=_free_port(),
        tls_port=_free_port(),
        nginx_bin=NGINX,
    )
    router = NginxRouter(settings)
    try:
        router.start()
        table = RouteTable(router, "localhost")
        for i in range(APPS - 1):
            table.seed(f"app{i}", _filler(i))
        table.set("measured", [a])  # the first change: a full apply
        _until_served(settings.router_port, "measured.localhost", "a", time.monotonic() + 30)
        return _flip(
            lambda address, _: table.set("measured", [address]), settings.router_port, a, b, SAMPLES
        )
    finally:
        router.stop()
        shutil.rmtree(state, ignore_errors=True)


def _old_renderer() -> ModuleType | None:
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{OLD_COMMIT}:src/xae/router/render.py"],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
    except (subprocess.CalledProcessError, OSError):
        return None
    spec = importlib.util.spec_from_loader("xae_bench_old_render", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    exec(compile(source, f"{OLD_COMMIT}:render.py", "exec"), module.__dict__)  # noqa: S102
    return module


def measure_old(a: str, b: str) -> list[float] | None:
    """The pre-issue-10 path: render all, `nginx -t`, SIGHUP, wait for the generation."""
    old = _old_renderer()
    if old is None:
        return None
    root = Path(tempfile.mkdtemp(prefix="xae-bench-oldrouter-"))
    root.chmod(0o700)
    paths = RouterPaths(root)
    (root / "tmp").mkdir(mode=0o700)
    port = _free_port()
    fillers = [Route(f"app{i}", [f"app{i}.localhost"], _filler(i)) for i in range(APPS - 1)]
    generation = 0

    def render(address: str) -> str:
        nonlocal generation
        generation += 1
        options = old.RenderOptions(
            paths=paths, listen_host="127.0.0.1", listen_port=port, base_domain="localhost",
            generation=generation,
        )  # fmt: skip
        routes = [*fillers, Route("measured", ["measured.localhost"], [address])]
        return str(old.render_config(routes, options))

    def swap(address: str, _: str) -> None:
        candidate = root / "next.conf"
        candidate.write_text(render(address))
        subprocess.run(
            [NGINX, "-t", "-q", "-p", f"{root}/", "-c", str(candidate)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        os.replace(candidate, paths.conf)
        master = router_process.read_pid(paths.pid)
        assert master is not None
        os.kill(master, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while served_generation(paths.internal_socket) != generation:
            if time.monotonic() > deadline:
                raise RuntimeError("the old-style reload did not take effect within 30 s")

    paths.conf.write_text(render(a))
    subprocess.run(
        [NGINX, "-p", f"{root}/", "-e", str(paths.error_log), "-c", str(paths.conf)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    try:
        _until_served(port, "measured.localhost", "a", time.monotonic() + 30)
        return _flip(swap, port, a, b, OLD_SAMPLES)
    finally:
        master = router_process.read_pid(paths.pid)
        if master is not None and router_process.is_master_for(master, paths.conf):
            os.kill(master, signal.SIGQUIT)
            router_process.wait_until(lambda: not router_process.is_alive(master), 30)
        shutil.rmtree(root, ignore_errors=True)


def quantile(samples: list[float], q: int) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def report(new: list[float], old: list[float] | None, load: tuple[float, float]) -> str:
    lines = [
        f"{SECTION} — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Machine: {machine()}; load average {load[0]:.1f} before the run and {load[1]:.1f} "
        "after (the machine is shared). Written by `make bench` (bench/router_update.py).",
        "",
        f"A router of the benchmark's own holding {APPS:,} apps / {APPS * UPSTREAMS_PER_APP:,} "
        "upstreams. One app flips between two real backends; a sample is the control layer's "
        "`RouteTable.set` until a request through the router is answered by the new backend. "
        "`update` is the router since issue 10 (a delta over the control socket, read back, no "
        f"reload); `full reload` is the router of {OLD_COMMIT} (whole config rendered, "
        "`nginx -t`, graceful reload, wait for the new generation).",
        "",
        "| path | n | p50 | p99 | max | target p99 | met |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    p99 = quantile(new, 99)
    met = "yes" if p99 <= TARGET_P99_MS else "**no**"
    lines.append(
        f"| update (no reload) | {len(new)} | {quantile(new, 50):.1f} ms | {p99:.1f} ms "
        f"| {max(new):.1f} ms | ≤ {TARGET_P99_MS:g} ms | {met} |"
    )
    if old:
        lines.append(
            f"| full reload ({OLD_COMMIT}) | {len(old)} | {quantile(old, 50):.1f} ms "
            f"| {quantile(old, 99):.1f} ms | {max(old):.1f} ms | — | — |"
        )
    else:
        lines.append("| full reload | — | not measured (its commit is not in this checkout) |||||")
    return "\n".join(lines)


def main() -> int:
    load_before = os.getloadavg()[0]
    server_a, a = _backend("a", "127.0.0.2")
    server_b, b = _backend("b", "127.0.0.3")
    try:
        new = measure_new(a, b)
        old = measure_old(a, b)
    finally:
        for server in (server_a, server_b):
            server.shutdown()
            server.server_close()
    text = report(new, old, (load_before, os.getloadavg()[0]))
    print(text)
    print(json.dumps({"update_ms": new[:5], "reload_ms": (old or [])[:5]}))
    write_section(text, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
