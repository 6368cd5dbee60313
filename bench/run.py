"""The benchmarks, each timed the way a user experiences it, against the xae `make up` started.

Latencies are measured from the CLI command's start until the router serves the new state (the
response body proves it), so they include upload, build, health checks and the router swap.
Router throughput is compared with a direct hit on the same container in the same run,
interleaved, because this machine is noisy: the ratio is what we track.
"""

from __future__ import annotations

import json
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


def until(predicate: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the new state to serve")
        time.sleep(0.02)


def timed(action: Callable[[], object], done: Callable[[], bool]) -> float:
    start = time.monotonic()
    action()
    until(done)
    return time.monotonic() - start


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
                    lambda m=marker: m in fetch(app, port),
                )
            )
    median = statistics.median(times)
    return Result(
        "warm redeploy (code-only change), deploy → new release serving",
        f"median {median:.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})",
        "≤ 3 s",
        median <= 3,
    )


def bench_config(app: str, port: int) -> Result:
    times = []
    for run in range(RUNS):
        value = f"cfg{run}{secrets.token_hex(2)}"
        times.append(
            timed(
                lambda v=value: xae("config:set", f"GREETING={v}", "--app", app),
                lambda v=value: v in fetch(app, port),
            )
        )
    median = statistics.median(times)
    return Result(
        "config:set → new release serving",
        f"median {median:.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})",
        "≤ 2 s",
        median <= 2,
    )


def serving_instances(app: str) -> int:
    ps = json.loads(xae("ps", "--app", app, "--json"))
    return sum(1 for i in ps["instances"] if i["type"] == "web" and i["healthy"])


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

        times.append(timed(lambda: xae("ps:scale", "web=10", "--app", app), all_ten))
    xae("ps:scale", "web=1", "--app", app)
    median = statistics.median(times)
    return Result(
        "ps:scale web=1 → web=10, until all ten serve",
        f"median {median:.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})",
        "≤ 3 s",
        median <= 3,
        "all ten are seen answering through the router",
    )


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
    direct, routed = [], []
    for _ in range(3):
        direct.append(wrk(f"http://{address}/", None))
        routed.append(wrk(f"http://127.0.0.1:{port}/", f"{app}.localhost"))
    d_rps = statistics.median(r for r, _ in direct)
    r_rps = statistics.median(r for r, _ in routed)
    d_p99 = statistics.median(p for _, p in direct)
    r_p99 = statistics.median(p for _, p in routed)
    ratio = r_rps / d_rps
    return [
        Result(
            "router throughput vs direct (static app: nginx in the container)",
            f"{r_rps:,.0f} vs {d_rps:,.0f} req/s = {ratio:.2f}×",
            "≥ 0.8×",
            ratio >= 0.8,
            "wrk -t2 -c32, 3 interleaved 5 s rounds each, medians",
        ),
        Result("p99 latency, router vs direct", f"{r_p99:.2f} ms vs {d_p99:.2f} ms", "—", None),
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
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_text("\n".join(lines) + "\n")


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
