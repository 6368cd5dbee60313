"""The build queue's fairness and throughput: concurrent deploys to 5 apps, on real builds.

A plane of the benchmark's own (its own state dir, ports and name, like the tests' planes, so
`make up`'s is never touched) runs with the default `build_concurrency` of 1. Each deploy is
the Dockerfile fixture app with one uncached `RUN sleep 2` step, so every build costs about
the same and the queue's decisions are what the numbers show. Two scenarios:

1. five apps, one deploy each, all started at once: the total time, and for each deploy how
   long it waited in the queue, how long its build took, and how long the whole `xae deploy`
   took;
2. a busy app that asks for three deploys at once and four others one each, a moment later:
   the order builds started in. First come first served would run the busy app's three
   first; the queue's fairness runs each other app before the busy app's second.

The results replace this benchmark's section of docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import docker

from bench.report import write_section
from bench.run import ROOT, machine
from xae.builder.jail import remove_plane_jail
from xae.runtime.docker.hostwall import HostWall

SECTION = "### Build queue"
BIN = Path(sys.executable).parent
FIXTURE = ROOT / "tests" / "fixtures" / "apps" / "dockerfile"
BUILD_SECONDS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Plane:
    """A throwaway control plane for the benchmark."""

    def __init__(self, root: Path) -> None:
        self.name = f"bq{secrets.token_hex(2)}"
        self.env = {
            **os.environ,
            "XAE_STATE_DIR": str(root / "state"),
            "XAE_API_PORT": str(free_port()),
            "XAE_ROUTER_PORT": str(free_port()),
            "XAE_TLS_PORT": str(free_port()),
            "XAE_PLANE": self.name,
            "XAE_BACKEND": "docker",
            "XAE_DRAIN_SECONDS": "1",
            "XDG_CONFIG_HOME": str(root / "config"),
            "NO_COLOR": "1",
        }
        for name in ("XAE_TOKEN", "XAE_API_URL", "XAE_BUILD_CONCURRENCY"):
            self.env.pop(name, None)
        self.apps: list[str] = []

    def run(self, tool: str, *args: str) -> str:
        proc = subprocess.run(
            [str(BIN / tool), *args], env=self.env, capture_output=True, text=True, timeout=900
        )
        if proc.returncode != 0:
            raise SystemExit(f"{tool} {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def deploy(self, app: str, src: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(BIN / "xae"), "deploy", str(src), "--app", app],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def builds(self, app: str) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = json.loads(self.run("xae", "builds", "--app", app, "--json"))
        return listed

    def start(self) -> None:
        self.run("xae-admin", "start")
        self.run("xae-admin", "bootstrap")

    def stop(self) -> None:
        for app in self.apps:
            subprocess.run(
                [str(BIN / "xae"), "apps:destroy", app, "--confirm", app],
                env=self.env,
                capture_output=True,
                timeout=120,
            )
        subprocess.run(
            [str(BIN / "xae-admin"), "stop"], env=self.env, capture_output=True, timeout=60
        )
        client = docker.from_env(version="auto")
        try:
            remove_plane_jail(client, self.name)
        finally:
            client.close()
            HostWall.for_plane(self.name, []).remove()


def source(root: Path) -> Path:
    """The fixture app with an uncached build step of `BUILD_SECONDS`."""
    src = root / f"src-{uuid.uuid4().hex[:8]}"
    shutil.copytree(FIXTURE, src)
    dockerfile = src / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace(
            "COPY --chown",
            f"RUN echo {uuid.uuid4().hex} && sleep {BUILD_SECONDS}\nCOPY --chown",
            1,
        )
    )
    return src


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def finish(procs: list[tuple[str, subprocess.Popen[str], float]]) -> dict[str, float]:
    """Wait for every deploy; the wall time of each (by app; an app's last deploy). Their
    output is read as it comes, in threads, so no deploy waits on a full pipe."""
    took: dict[str, float] = {}
    outputs: dict[int, list[str]] = {}

    def drain(proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        outputs[proc.pid] = proc.stdout.readlines()

    readers = [threading.Thread(target=drain, args=(p,), daemon=True) for _, p, _ in procs]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + 900
    pending = list(procs)
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit("the deploys did not finish within 15 minutes")
        for entry in list(pending):
            app, proc, started = entry
            if proc.poll() is not None:
                took[app] = time.monotonic() - started
                pending.remove(entry)
        time.sleep(0.05)
    for reader in readers:
        reader.join(30)
    for app, proc, _ in procs:
        if proc.returncode != 0:
            raise SystemExit(f"the deploy of {app} failed:\n{''.join(outputs.get(proc.pid, []))}")
    return took


def five_apps(plane: Plane, root: Path) -> str:
    apps = [f"bq{n}-{secrets.token_hex(2)}" for n in range(1, 6)]
    for app in apps:
        plane.run("xae", "apps:create", app)
        plane.apps.append(app)
    plane.deploy(apps[0], source(root)).communicate(timeout=900)  # warm the fixture's layers
    started = time.monotonic()
    procs = [(app, plane.deploy(app, source(root)), time.monotonic()) for app in apps]
    walls = finish(procs)
    total = time.monotonic() - started
    rows = []
    for app in apps:
        build = plane.builds(app)[0]
        waited = (at(build["started_at"]) - at(build["queued_at"])).total_seconds()
        rows.append((app, waited, float(build["duration"]), walls[app]))
    waits = [r[1] for r in rows]
    lines = [
        f"Five apps, one deploy each, started at once (build_concurrency 1, each build a "
        f"{BUILD_SECONDS} s step): all served after **{total:.1f} s**.",
        "",
        "| app | waited in the queue | build | whole `xae deploy` |",
        "|---|---:|---:|---:|",
        *[
            f"| {n} | {w:.1f} s | {b:.1f} s | {d:.1f} s |"
            for n, (_, w, b, d) in enumerate(sorted(rows, key=lambda r: r[1]), start=1)
        ],
        "",
        f"Waits: mean {statistics.mean(waits):.1f} s, max {max(waits):.1f} s; each deploy waited "
        "only for the builds ahead of it (build slots are freed at the end of a build, not of "
        "its rollout, so one app's rollout overlaps the next app's build).",
    ]
    return "\n".join(lines)


def busy_app(plane: Plane, root: Path) -> str:
    busy = f"bqbusy-{secrets.token_hex(2)}"
    others = [f"bqo{n}-{secrets.token_hex(2)}" for n in range(1, 5)]
    for app in (busy, *others):
        plane.run("xae", "apps:create", app)
        plane.apps.append(app)
    procs = []
    for _ in range(3):
        procs.append((busy, plane.deploy(busy, source(root)), time.monotonic()))
        time.sleep(0.3)  # so they reach the queue in this order
    for app in others:
        procs.append((app, plane.deploy(app, source(root)), time.monotonic()))
        time.sleep(0.3)
    finish(procs)
    builds = [(app, b) for app in (busy, *others) for b in plane.builds(app)]
    label = {busy: "busy", **{app: f"other {n}" for n, app in enumerate(others, start=1)}}
    asked = [label[app] for app, b in sorted(builds, key=lambda x: at(x[1]["queued_at"]))]
    started = [label[app] for app, b in sorted(builds, key=lambda x: at(x[1]["started_at"]))]
    return (
        "A busy app asked for three deploys at once, then four other apps one each. They "
        f"reached the queue in this order: {', '.join(asked)}; their builds started in this "
        f"order: **{', '.join(started)}** (first come first served would have run them as they "
        "came)."
    )


def main() -> int:
    load = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="xae-bench-queue-"))
    plane = Plane(root)
    try:
        plane.start()
        first = five_apps(plane, root)
        second = busy_app(plane, root)
    finally:
        plane.stop()
        shutil.rmtree(root, ignore_errors=True)
    text = "\n".join(
        [
            SECTION,
            "",
            f"`python -m bench.build_queue` on {machine()}; load average {load:.2f} before.",
            "",
            first,
            "",
            second,
        ]
    )
    print(text)
    write_section(text, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
