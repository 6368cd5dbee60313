"""xae at cluster scale, simulated: 1,000 apps × 3 replicas on 200 KWOK nodes.

`python -m bench.k8s_scale [--apps N] [--nodes N] [--workers N]`, as root, with the local
cluster up (`make k8s-up`). It starts its own xae control plane (kubernetes backend, its own
plane, state dir and ports), fakes the nodes with KWOK (`scripts/k8s-local/kwok.sh`), cordons
the real node so every pod lands on a fake one (KWOK marks them Running and Ready without
running anything), and drives xae through its REST API as the CLI would: per app, create it,
deploy an image (`POST /v1/apps/{app}/deploys/image`, no build), scale web to 3. Each call
returns when the cluster runs the result and the router serves it.

It reports xae's API latency per call (p50/p99), the time until all pods are Running, and the
kube-apiserver's latency for single-object mutating calls from its own histograms against the
Kubernetes SLO (p99 ≤ 1 s), then removes everything it made and appends to
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import k8s_apiserver
from bench.report import write_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "### Kubernetes at scale, simulated (KWOK)"
BIN = Path(sys.executable).parent
KWOK = ROOT / "scripts" / "k8s-local" / "kwok.sh"
K8S_STATE = Path(os.environ.get("K8S_STATE_DIR", "/var/lib/xae/k8s"))
KUBECONFIG = K8S_STATE / "kubeconfig"
KUBECTL = Path(os.environ.get("K8S_CACHE_DIR", "/var/cache/xae/k8s/v1.33.13")) / "bin" / "kubectl"
NODE = "xae-node"
REGISTRY = "127.0.0.1:5000"
SOURCE_IMAGE = f"{REGISTRY}/xae/hello-http:2"
IMAGE = f"{REGISTRY}/bench/hello-http:2"
"""An app may not deploy images in xae's own namespace that it did not build, so the benchmark
republishes `make k8s-up`'s test image outside it; the plane allows its loopback registry."""
IMAGE_PORT = 8080
REPLICAS = 3
PLANE = "kwokbench"


@dataclass
class Calls:
    seconds: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.seconds.setdefault(kind, []).append(seconds)

    def fail(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def kubectl(*args: str) -> str:
    return subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(KUBECONFIG), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout


class Plane:
    """An xae control plane of the benchmark's own, on the kubernetes backend."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="xae-kwok-"))
        self.dir.chmod(0o755)
        self.env = {
            **os.environ,
            "XAE_STATE_DIR": str(self.dir / "state"),
            "XAE_API_PORT": str(_free_port()),
            "XAE_ROUTER_PORT": str(_free_port()),
            "XAE_TLS_PORT": str(_free_port()),
            "XAE_PLANE": PLANE,
            "XAE_BACKEND": "kubernetes",
            "XAE_KUBECONFIG": str(KUBECONFIG),
            "XAE_REGISTRY": REGISTRY,
            "XAE_ALLOWED_REGISTRIES": REGISTRY,
            "XDG_CONFIG_HOME": str(self.dir / "config"),
        }
        self.url = f"http://127.0.0.1:{self.env['XAE_API_PORT']}"

    def admin(self, *args: str) -> None:
        subprocess.run(
            [str(BIN / "xae-admin"), *args],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=300,
        )

    def start(self) -> str:
        self.admin("start")
        self.admin("bootstrap")
        config = json.loads((self.dir / "config" / "xae" / "config.json").read_text())
        return str(config["token"])

    def stop(self) -> None:
        subprocess.run(
            [str(BIN / "xae-admin"), "stop"], env=self.env, capture_output=True, timeout=120
        )
        shutil.rmtree(self.dir, ignore_errors=True)


def publish_image() -> None:
    """Copy the test image to `IMAGE` in the local registry (through Docker, then untag it)."""
    for argv in (
        ["pull", SOURCE_IMAGE],
        ["tag", SOURCE_IMAGE, IMAGE],
        ["push", IMAGE],
        ["rmi", SOURCE_IMAGE, IMAGE],
    ):
        subprocess.run(["docker", *argv], check=True, capture_output=True, timeout=300)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_app(client: httpx.Client, name: str, calls: Calls) -> None:
    """Create, deploy, scale: each timed until xae answers (the cluster and router caught up)."""
    try:
        t0 = time.monotonic()
        client.post("/v1/apps", json={"name": name}).raise_for_status()
        calls.add("apps:create", time.monotonic() - t0)

        t0 = time.monotonic()
        body = {"image": IMAGE, "port": IMAGE_PORT}
        with client.stream("POST", f"/v1/apps/{name}/deploys/image", json=body) as response:
            response.raise_for_status()
            events = [json.loads(line) for line in response.iter_lines() if line.strip()]
        if not events or events[-1].get("event") != "done":
            raise RuntimeError(f"deploy of {name} ended with {events[-1:]}")
        calls.add("deploy --image", time.monotonic() - t0)

        t0 = time.monotonic()
        client.patch(
            f"/v1/apps/{name}/formation",
            json={"updates": [{"type": "web", "quantity": REPLICAS}]},
        ).raise_for_status()
        calls.add("ps:scale web=3", time.monotonic() - t0)
    except Exception as e:  # count it and go on: one failure must not stop the run
        calls.fail(f"{name}: {type(e).__name__}: {e}"[:300])


def running_pods() -> int:
    out = kubectl(
        "get",
        "pods",
        "-A",
        "-l",
        f"xae.dev/plane={PLANE}",
        "--field-selector",
        "status.phase=Running",
        "-o",
        "name",
    )
    return len(out.split())


def run(apps: int, nodes: int, workers: int) -> str:
    plane = Plane()
    publish_image()
    subprocess.run([str(KWOK), "up", str(nodes)], check=True, timeout=1800)
    kubectl("cordon", NODE)
    calls = Calls()
    try:
        token = plane.start()
        before = k8s_apiserver.snapshot(KUBECONFIG)
        t_start = time.monotonic()
        headers = {"Authorization": f"Bearer {token}"}
        names = [f"k{i:04d}-{secrets.token_hex(2)}" for i in range(apps)]
        with (
            httpx.Client(base_url=plane.url, headers=headers, timeout=900) as client,
            ThreadPoolExecutor(max_workers=workers) as pool,
        ):
            list(pool.map(lambda n: one_app(client, n, calls), names))
        t_api = time.monotonic() - t_start
        wanted = REPLICAS * (apps - len(calls.errors))
        deadline = time.monotonic() + 900
        running = running_pods()
        while running < wanted and time.monotonic() < deadline:
            time.sleep(2)
            running = running_pods()
        t_running = time.monotonic() - t_start
        after = k8s_apiserver.snapshot(KUBECONFIG)
        rows = k8s_apiserver.mutating_latency(before, after)
        return report(apps, nodes, workers, calls, t_api, t_running, running, wanted, rows)
    finally:
        kubectl("uncordon", NODE)
        # The apps live in their team's namespace (the bootstrap admin's team, `default`).
        subprocess.run(
            [
                str(KUBECTL),
                "--kubeconfig",
                str(KUBECONFIG),
                "delete",
                "namespace",
                f"xae-{PLANE}-default",
                "--wait=false",
            ],
            capture_output=True,
            timeout=120,
        )
        plane.stop()
        subprocess.run([str(KWOK), "down"], timeout=1800)


def report(
    apps: int,
    nodes: int,
    workers: int,
    calls: Calls,
    t_api: float,
    t_running: float,
    running: int,
    wanted: int,
    rows: list[k8s_apiserver.LatencyRow],
) -> str:
    summary = k8s_apiserver.summarize(rows)
    lines = [
        f"{SECTION} — " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "",
        f"Machine: {os.cpu_count()} vCPU, {platform.platform()}; local cluster v1.33.13 from "
        f"`make k8s-up` plus {nodes} KWOK nodes (the real node cordoned). {apps} apps × "
        f"{REPLICAS} replicas driven through xae's API by {workers} concurrent clients; each "
        "call returns once the cluster runs the result and the router serves it.",
        "",
        "| xae API call | calls | p50 | p99 |",
        "|---|---|---|---|",
    ]
    for kind, values in calls.seconds.items():
        lines.append(
            f"| {kind} | {len(values)} | {statistics.median(values):.2f} s | "
            f"{quantile(values, 0.99):.2f} s |"
        )
    lines += [
        "",
        f"- all API calls done after {t_api:.0f} s; {running} of {wanted} pods Running after "
        f"{t_running:.0f} s; {len(calls.errors)} app(s) failed"
        + (f" (first: `{calls.errors[0]}`)" if calls.errors else ""),
        f"- kube-apiserver, single-object mutating calls: {summary.count} calls, worst p99 "
        f"{summary.worst_p99:.3f} s ({summary.worst}) — SLO p99 ≤ 1 s "
        f"{'met' if summary.slo_met else 'NOT met'}",
        "",
        k8s_apiserver.render_markdown(rows, limit=12),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--no-write", action="store_true", help="print, do not append to docs")
    args = parser.parse_args()
    text = run(args.apps, args.nodes, args.workers)
    print(text)
    if not args.no_write:
        write_section(text, SECTION)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
