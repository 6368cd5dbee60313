"""The benchmarks, each timed the way a user experiences it, against the xae `make up` started.

Latencies are measured from the CLI command's start until the router serves the new state (the
response body proves it), so they include upload, build, health checks and the router swap.
Router throughput is compared with a direct hit on the same container in the same run,
interleaved, because this machine is noisy: the ratio is what we track.
"""

from __future__ import annotations

import contextlib
import json
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
XAE = str(Path(sys.executable).parent / "xae")
EXAMPLE = ROOT / "examples" / "hello-python"
STATIC = ROOT / "tests" / "fixtures" / "apps" / "static"
RUNS = 5


@dataclass
class Result:
    name: str
    value: str
    target: str
    met: bool | None
    note: str = ""


def xae(*args: str) -> str:
    proc = subprocess.run([XAE, *args], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"xae {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def router_port() -> int:
    status = json.loads(xae("status", "--json"))
    return int(status["router"]["address"].rsplit(":", 1)[1])


def fetch(app: str, port: int) -> str:
    try:
        response = httpx.get(
            f"http://127.0.0.1:{port}/", headers={"Host": f"{app}.localhost"}, timeout=5
        )
    except httpx.HTTPError:
        return ""
    return response.text if response.status_code == 200 else ""


def serves(app: str, port: int, needle: str) -> bool:
    """Whether the app's page, fetched through the router, contains `needle`."""
    return needle in fetch(app, port)


def until(predicate: Callable[[], bool], timeout: float = 120, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the new state to serve")
        time.sleep(interval)


def timed(action: Callable[[], object], done: Callable[[], bool], interval: float = 0.02) -> float:
    """Seconds from starting `action` until `done()` holds, polled while the action still runs
    (a command may return later than its effect, e.g. after draining old instances)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as e:  # re-raised below, in the caller's thread
            errors.append(e)

    start = time.monotonic()
    worker = threading.Thread(target=run)
    worker.start()
    until(lambda: bool(errors) or done(), interval=interval)
    elapsed = time.monotonic() - start
    worker.join()
    if errors:
        raise errors[0]
    return elapsed


def latency(name: str, times: list[float], target: float) -> Result:
    median = statistics.median(times)
    runs = ", ".join(f"{t:.2f}" for t in times)
    value = f"median {median:.2f} s (runs: {runs})"
    return Result(name, value, f"≤ {target:g} s", median <= target)


def bench_redeploy(app: str, port: int) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "app"
        shutil.copytree(EXAMPLE, src)
        xae("deploy", str(src), "--app", app)  # warm the build cache
        times = []
        for run in range(RUNS):
            marker = f"Run{run}-{secrets.token_hex(2)}"
            app_py = src / "app.py"
            app_py.write_text(re.sub(r'"Hello"|"Run\d-\w+"', f'"{marker}"', app_py.read_text()))
            times.append(
                timed(
                    lambda: xae("deploy", str(src), "--app", app),
                    partial(serves, app, port, marker),
                )
            )
    return latency("warm redeploy (code-only change), deploy → new release serving", times, 3)


def bench_config(app: str, port: int) -> Result:
    times = []
    for run in range(RUNS):
        value = f"cfg{run}{secrets.token_hex(2)}"
        times.append(
            timed(
                partial(xae, "config:set", f"GREETING={value}", "--app", app),
                partial(serves, app, port, value),
            )
        )
    return latency("config:set → new release serving", times, 2)


def bench_scale(app: str, port: int) -> Result:
    times = []
    for _ in range(3):
        xae("ps:scale", "web=1", "--app", app)
        hosts: set[str] = set()

        def all_ten(hosts: set[str] = hosts) -> bool:
            for _ in range(10):
                match = re.search(r"instance (\S+)\)", fetch(app, port))
                if match:
                    hosts.add(match.group(1))
            return len(hosts) >= 10

        # Polled gently: ten requests a round would otherwise compete with the booting apps.
        times.append(timed(lambda: xae("ps:scale", "web=10", "--app", app), all_ten, 0.25))
    xae("ps:scale", "web=1", "--app", app)
    median = statistics.median(times)
    baseline = docker_baseline(app)
    return Result(
        "ps:scale web=1 → web=10, until all ten serve",
        f"median {median:.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)}); "
        f"baseline {baseline:.2f} s, xae = {median / baseline:.2f}× baseline",
        "≤ 3 s",
        median <= 3,
        "all ten are seen answering through the router. Baseline, same run: ten parallel "
        "`docker run`s of the same image and command on a fresh network, straight through the "
        "Docker SDK, until each answers HTTP at its address",
    )


def docker_baseline(app: str) -> float:
    """Ten parallel container starts of the app's image, without xae, until all answer."""
    import docker

    ps = json.loads(xae("ps", "--app", app, "--json"))
    command = next(f["command"] for f in ps["formation"] if f["type"] == "web")
    image = json.loads(xae("releases", "--app", app, "--json"))[0]["image"]
    client = docker.from_env(version="auto")
    network = client.networks.create(f"xae-bench-{secrets.token_hex(3)}")
    containers: list[Any] = []
    lock = threading.Lock()

    def start_one(_: int) -> None:
        container = client.containers.run(
            image,
            ["/bin/sh", "-c", f"exec {command}"],
            environment={"PORT": "5000"},
            network=network.name,
            detach=True,
            init=True,
            user="10001:10001",
        )
        with lock:
            containers.append(container)
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        until(lambda: bool(fetch_url(f"http://{address}:5000/")), timeout=60, interval=0.25)

    try:
        start = time.monotonic()
        with ThreadPoolExecutor(10) as pool:
            list(pool.map(start_one, range(10)))
        return time.monotonic() - start
    finally:
        for container in containers:
            container.remove(force=True)
        network.remove()
        client.close()


def fetch_url(url: str) -> str:
    try:
        response = httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return ""
    return response.text if response.status_code == 200 else ""


def wrk(url: str, host: str | None, seconds: int = 5) -> tuple[float, float]:
    args = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency"]
    if host:
        args += ["-H", f"Host: {host}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99_match = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99_match, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99_match.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    if errors:
        raise SystemExit(f"wrk saw errors:\n{out}")
    return rps, float(p99_match.group(1)) * scale


def bench_router(app: str, port: int) -> list[Result]:
    ps = json.loads(xae("ps", "--app", app, "--json"))
    address = next(i["address"] for i in ps["instances"] if i["type"] == "web")
    direct, routed, bare = [], [], []
    with bare_nginx(address) as bare_port:
        for _ in range(3):
            direct.append(wrk(f"http://{address}/", None))
            routed.append(wrk(f"http://127.0.0.1:{port}/", f"{app}.localhost"))
            bare.append(wrk(f"http://127.0.0.1:{bare_port}/", None))
    d_rps, r_rps, b_rps = (statistics.median(r for r, _ in runs) for runs in (direct, routed, bare))
    d_p99, r_p99, b_p99 = (statistics.median(p for _, p in runs) for runs in (direct, routed, bare))
    ratio = r_rps / d_rps
    return [
        Result(
            "router throughput vs direct (static app: nginx in the container)",
            f"{r_rps:,.0f} vs {d_rps:,.0f} req/s = {ratio:.2f}×",
            "≥ 0.8×",
            ratio >= 0.8,
            "wrk -t2 -c32, 3 interleaved 5 s rounds each, medians. For scale, a bare nginx proxy "
            "(upstream keepalive, no logs, nothing else) in the same rounds: "
            f"{b_rps:,.0f} req/s = {b_rps / d_rps:.2f}× direct",
        ),
        Result(
            "p99 latency: router / bare nginx proxy / direct",
            f"{r_p99:.2f} / {b_p99:.2f} / {d_p99:.2f} ms",
            "—",
            None,
        ),
    ]


@contextlib.contextmanager
def bare_nginx(address: str) -> Iterator[int]:
    """A minimal nginx reverse proxy to `address`: what any nginx-based router starts from."""
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
        subprocess.run(["nginx", "-c", str(conf)], check=True)
        try:
            until(lambda: bool(fetch_url(f"http://127.0.0.1:{bare_port}/")), timeout=10)
            yield bare_port
        finally:
            subprocess.run(["nginx", "-c", str(conf), "-s", "quit"], check=False)


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    docker = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True
    ).stdout.strip()
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return (
        f"{cpu}, {cores} cores, {mem_kb // 1024 // 1024} GiB RAM; Linux "
        f"{platform.release()}; Docker {docker}; {nginx}; Python {platform.python_version()}"
    )


def write_report(results: list[Result], where: Path) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run.py); each number is measured the way a user sees it,",
        "from the CLI command to the router serving the new state. Re-run to refresh.",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {machine()}",
        "",
        "| benchmark | result | target | met |",
        "|---|---|---|---|",
    ]
    for r in results:
        met = "—" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.name} | {r.value} | {r.target} | {met} |")
    notes = [f"- {r.name}: {r.note}" for r in results if r.note]
    if notes:
        lines += ["", "Notes:", "", *notes]
    extra = where.parent / "benchmarks-notes.md"
    if extra.exists():
        lines += ["", extra.read_text().strip()]
    kept = appended_sections(where.read_text()) if where.exists() else ""
    if kept:
        lines += ["", kept]
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_text("\n".join(lines) + "\n")


def appended_sections(text: str) -> str:
    """The `### ` sections other benchmarks appended (bench/k8s_scale.py): a re-run of this
    one rewrites its own part of the file and keeps theirs."""
    match = re.search(r"^### ", text, re.MULTILINE)
    return text[match.start() :].strip() if match else ""


def main() -> int:
    port = router_port()
    suffix = secrets.token_hex(2)
    python_app, static_app = f"bench-py-{suffix}", f"bench-st-{suffix}"
    results: list[Result] = []
    try:
        xae("apps:create", python_app)
        xae("apps:create", static_app)
        results.append(bench_redeploy(python_app, port))
        results.append(bench_config(python_app, port))
        results.append(bench_scale(python_app, port))
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "static"
            shutil.copytree(STATIC, src)
            xae("deploy", str(src), "--app", static_app)
        results.extend(bench_router(static_app, port))
    finally:
        for app in (python_app, static_app):
            subprocess.run([XAE, "apps:destroy", app, "--confirm", app], capture_output=True)
    width = max(len(r.name) for r in results)
    for r in results:
        met = "" if r.met is None else ("  met" if r.met else "  NOT met")
        print(f"{r.name:<{width}}  {r.value}  (target {r.target}){met}")
    write_report(results, ROOT / "docs" / "benchmarks.md")
    print(f"wrote {ROOT / 'docs' / 'benchmarks.md'}")
    return 0
