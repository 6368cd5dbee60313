"""The benchmarks, each timed the way a user experiences it, against the xae `make up` started.

Latencies are measured from the CLI command's start until the router serves the new state (the
response body proves it), so they include upload, build, health checks and the router swap.
Router throughput is compared with a direct hit on the same container in the same run,
interleaved, because this machine is noisy: the ratio is what we track.
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench import traffic
from bench.report import appended_sections
from xae.config import get_settings

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


def timed(
    action: Callable[[], object], done: Callable[[], bool], interval: float = 0.02
) -> tuple[float, float]:
    """Seconds from starting `action` until `done()` holds, polled while the action still runs
    (a command may return later than its effect, e.g. after draining old instances), and
    until the action returned."""
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
    returned = time.monotonic() - start
    if errors:
        raise errors[0]
    return elapsed, returned


def latency(name: str, samples: list[tuple[float, float]], target: float) -> Result:
    times = [serving for serving, _ in samples]
    median = statistics.median(times)
    runs = ", ".join(f"{t:.2f}" for t in times)
    returned = statistics.median(r for _, r in samples)
    value = f"median {median:.2f} s (runs: {runs}); the command returned after {returned:.2f} s"
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
    return latency("warm redeploy (code-only change), deploy → new release serving", times, 0.8)


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
    return latency("config:set → new release serving", times, 0.6)


def bench_scale(app: str, port: int) -> Result:
    """Rounds of xae's scale-out, each followed by the bare-Docker baseline: per-round ratios."""
    times, baselines = [], []
    for _ in range(3):
        xae("ps:scale", "web=1", "--app", app)
        hosts: set[str] = set()

        def all_ten(hosts: set[str] = hosts) -> bool:
            # Ten requests a round while only the old instance serves (more would compete with
            # the booting ones), up to thirty once the new ones are in the route.
            for n in range(30):
                match = re.search(r"instance (\S+)\)", fetch(app, port))
                if match:
                    hosts.add(match.group(1))
                if len(hosts) >= 10 or (n >= 9 and len(hosts) <= 1):
                    break
            return len(hosts) >= 10

        times.append(timed(lambda: xae("ps:scale", "web=10", "--app", app), all_ten, 0.25)[0])
        xae("ps:scale", "web=1", "--app", app)
        baselines.append(docker_baseline(app))
    ratios = [t / b for t, b in zip(times, baselines, strict=True)]
    ratio = statistics.median(ratios)
    runs, base_runs = (", ".join(f"{t:.2f}" for t in ts) for ts in (times, baselines))
    return Result(
        "ps:scale web=1 → web=10, until all ten serve, vs ten bare `docker run`s",
        f"xae median {statistics.median(times):.2f} s (runs: {runs}); "
        f"baseline median {statistics.median(baselines):.2f} s (runs: {base_runs}); "
        f"xae = {ratio:.2f}× baseline (rounds {min(ratios):.2f}–{max(ratios):.2f})",
        "≤ 1.1×",
        ratio <= 1.1,
        "all ten are seen answering through the router. Baseline, in the same rounds right "
        "after each xae run: ten parallel `docker run`s of the same image and command on a "
        "fresh network, straight through the Docker SDK, until each answers HTTP at its "
        "address (polled every 0.25 s, as xae's run is)",
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
        until(lambda: bool(traffic.fetch_url(f"http://{address}:5000/")), timeout=60, interval=0.25)

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


def web_address(app: str) -> str:
    ps = json.loads(xae("ps", "--app", app, "--json"))
    return str(next(i["address"] for i in ps["instances"] if i["type"] == "web"))


def bench_router(python_app: str, static_app: str, port: int) -> list[Result]:
    """Through the router against the same container hit directly, and against a bare nginx
    proxy with a static upstream to it, in the same rounds."""
    results = []
    for label, app, target, seconds in (
        ("Python example (gunicorn, 2 workers)", python_app, 0.95, 2),
        ("static app (nginx in the container)", static_app, 0.75, traffic.SECONDS),
    ):
        address = web_address(app)
        # gunicorn closes every connection: short loads, each started once the TIME_WAITs of
        # the ones before have cleared (see `traffic.settle`).
        load = partial(traffic.wrk, seconds=seconds)
        with traffic.bare_nginx(address) as bare_port:
            runs = traffic.rounds(
                {
                    "direct": partial(load, f"http://{address}/", None),
                    "router": partial(load, f"http://127.0.0.1:{port}/", f"{app}.localhost"),
                    "bare": partial(load, f"http://127.0.0.1:{bare_port}/", None),
                },
                before=partial(traffic.settle, address),
            )
        vs = traffic.Ratio(runs["router"], runs["direct"])
        bare = traffic.Ratio(runs["bare"], runs["direct"])
        lua = traffic.Ratio(runs["router"], runs["bare"])
        added = vs.added_p99
        results.append(
            Result(
                f"router throughput vs direct, {label}",
                f"{vs.rps('subject'):,.0f} vs {vs.rps('reference'):,.0f} req/s = {vs.spread()}; "
                f"p99 {vs.p99('subject'):.2f} vs {vs.p99('reference'):.2f} ms, added by the "
                f"router: median {statistics.median(added):+.2f} ms "
                f"(rounds {min(added):+.2f} to {max(added):+.2f})",
                f"≥ {target:g}×",
                vs.ratio >= target,
                f"wrk -t2 -c32, {traffic.ROUNDS} rounds of {seconds} s per load, the "
                "order rotating; medians, and the range of the per-round ratios. A bare nginx "
                "proxy (a static upstream with keepalive, no logs: the router before its Lua "
                f"balancer) in the same rounds: {bare.rps('subject'):,.0f} req/s = "
                f"{bare.spread()} direct; xae's router / bare proxy = {lua.spread()}",
            )
        )
    return results


def bench_tls(app: str, port: int) -> list[Result]:
    """HTTPS against plain HTTP, same router, same app, same rounds: kept-alive connections
    (the cost of encryption) and a new connection per request (the cost of handshakes)."""
    tls_port = get_settings().tls_port
    host = f"{app}.localhost"
    ca = json.loads(xae("status", "--json"))["local_ca"]["path"]
    # The app's own certificate (the local CA's, chosen by SNI) is what a client gets.
    subprocess.run(
        ["curl", "-sf", "-o", "/dev/null", "--cacert", ca, "--resolve",
         f"{host}:{tls_port}:127.0.0.1", f"https://{host}:{tls_port}/"],
        check=True, timeout=30,
    )  # fmt: skip
    https, http = f"https://127.0.0.1:{tls_port}/", f"http://127.0.0.1:{port}/"
    kept = traffic.rounds(
        {
            "http": partial(traffic.wrk, http, host),
            "https": partial(traffic.wrk, https, host),
        }
    )
    fresh = traffic.rounds(
        {
            "http": partial(traffic.wrk, http, host, close=True, connections=16),
            "https": partial(traffic.wrk, https, host, close=True, connections=16),
        }
    )
    kept_vs = traffic.Ratio(kept["https"], kept["http"])
    fresh_vs = traffic.Ratio(fresh["https"], fresh["http"])
    return [
        Result(
            "TLS: handshakes/s (a new HTTPS connection per request) vs new plain connections/s",
            f"{fresh_vs.rps('subject'):,.0f} vs {fresh_vs.rps('reference'):,.0f} /s = "
            f"{fresh_vs.spread()}; p99 {fresh_vs.p99('subject'):.2f} vs "
            f"{fresh_vs.p99('reference'):.2f} ms",
            "—",
            None,
            "wrk -t2 -c16 with `Connection: close`: every request opens a connection, and over "
            "HTTPS makes a full handshake (TLS 1.3, ECDHE with the router's P-256 key; wrk "
            "resumes no session). The static app, through the router, in "
            f"{traffic.ROUNDS} rotating rounds of {traffic.SECONDS} s",
        ),
        Result(
            "TLS: requests/s on kept-alive HTTPS vs plain HTTP",
            f"{kept_vs.rps('subject'):,.0f} vs {kept_vs.rps('reference'):,.0f} req/s = "
            f"{kept_vs.spread()}; p99 {kept_vs.p99('subject'):.2f} vs "
            f"{kept_vs.p99('reference'):.2f} ms",
            "—",
            None,
            "wrk -t2 -c32, connections kept alive (HTTP/1.1 over TLS 1.3), same app and rounds",
        ),
    ]


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


def write_report(results: list[Result], where: Path, load: tuple[float, float]) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run.py); each number is measured the way a user sees it,",
        "from the CLI command to the router serving the new state. Re-run to refresh.",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {machine()}",
        f"- load average {load[0]:.1f} before the run and {load[1]:.1f} after (the machine is "
        "shared; every comparison below is made within one run, in alternating rounds)",
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


SECTIONS = ("deploys", "router", "tls")


def main(argv: list[str] | None = None) -> int:
    """`python -m bench [deploys] [router] [tls]`: all by default; docs/benchmarks.md is
    rewritten only by a full run."""
    only = set(sys.argv[1:] if argv is None else argv) or set(SECTIONS)
    if only - set(SECTIONS):
        raise SystemExit(f"unknown section(s) {sorted(only - set(SECTIONS))}: use {SECTIONS}")
    port = router_port()
    load_before = os.getloadavg()[0]
    suffix = secrets.token_hex(2)
    python_app, static_app = f"bench-py-{suffix}", f"bench-st-{suffix}"
    results: list[Result] = []
    try:
        xae("apps:create", python_app)
        xae("apps:create", static_app)
        if "deploys" in only:
            results.append(bench_redeploy(python_app, port))
            results.append(bench_config(python_app, port))
            results.append(bench_scale(python_app, port))
        else:
            xae("deploy", str(EXAMPLE), "--app", python_app)
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "static"
            shutil.copytree(STATIC, src)
            xae("deploy", str(src), "--app", static_app)
        if "router" in only:
            results.extend(bench_router(python_app, static_app, port))
        if "tls" in only:
            results.extend(bench_tls(static_app, port))
    finally:
        for app in (python_app, static_app):
            subprocess.run([XAE, "apps:destroy", app, "--confirm", app], capture_output=True)
    width = max(len(r.name) for r in results)
    for r in results:
        met = "" if r.met is None else ("  met" if r.met else "  NOT met")
        print(f"{r.name:<{width}}  {r.value}  (target {r.target}){met}")
        if r.note:
            print(f"{'':<{width}}  {r.note}")
    if only == set(SECTIONS):
        write_report(results, ROOT / "docs" / "benchmarks.md", (load_before, os.getloadavg()[0]))
        print(f"wrote {ROOT / 'docs' / 'benchmarks.md'}")
    return 0
