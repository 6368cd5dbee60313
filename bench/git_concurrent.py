"""Concurrent `git push`es to five apps: the total time, each push's time, the queue's fairness.

A plane of the benchmark's own (see bench/git_cold.py) with the default `build_concurrency` of
1. Five apps, each a git repository of the benchmark's Python app (flask, requests,
python-dateutil). First all five are pushed at once cold (each requirements.txt carries its own
random token, so each build installs its dependencies from the network), then `ROUNDS` times all
five are pushed at once with a code-only change. For each round: the wall time until all five
serve, each push's time (from its `git push` to the router serving its text), and the order the
builds reached the queue (`queued_at` in `xae builds --json`) against the order they started
(`started_at`).

The results replace this benchmark's section of docs/benchmarks.md.
"""

from __future__ import annotations

import secrets
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.build_queue import Plane
from bench.git_cold import (
    COLD_LOG,
    code_change,
    first_commit,
    git_env,
    load,
    new_app,
    push_until_served,
    python_app,
    router_port,
)
from bench.report import write_section
from bench.run import machine

SECTION = "### Concurrent git pushes"
APPS = 5
ROUNDS = 2


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def queue_orders(builds: dict[str, dict[str, Any]]) -> tuple[list[str], list[str], int]:
    """The apps in the order their builds were queued, in the order they started, and how many
    pairs started in the other order than they were queued (0: first come, first served)."""
    arrived = sorted(builds, key=lambda app: at(builds[app]["queued_at"]))
    started = sorted(builds, key=lambda app: at(builds[app]["started_at"]))
    rank = {app: n for n, app in enumerate(started)}
    overtaken = sum(
        1
        for i, first in enumerate(arrived)
        for later in arrived[i + 1 :]
        if rank[later] < rank[first]
    )
    return arrived, started, overtaken


def waited(build: dict[str, Any]) -> float:
    return (at(build["started_at"]) - at(build["queued_at"])).total_seconds()


def latest_build(plane: Plane, app: str) -> dict[str, Any]:
    builds = plane.builds(app)
    return max(builds, key=lambda b: at(b["queued_at"]))


def round_of_pushes(
    plane: Plane,
    repos: dict[str, Path],
    port: int,
    needles: dict[str, str],
    title: str,
    cold: str = "",
) -> str:
    env = git_env(plane)
    load_before = load()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(repos)) as pool:
        futures = {
            app: pool.submit(push_until_served, repo, app, port, needles[app], env, cold)
            for app, repo in repos.items()
        }
        took = {app: future.result() for app, future in futures.items()}
    total = time.monotonic() - started
    builds = {app: latest_build(plane, app) for app in repos}
    arrived, began, overtaken = queue_orders(builds)
    label = {app: f"app {n}" for n, app in enumerate(repos, start=1)}
    rows = [
        f"| {label[app]} | {waited(builds[app]):.1f} s "
        f"| {float(builds[app]['duration']):.1f} s | {took[app]:.1f} s |"
        for app in arrived
    ]
    pushes = list(took.values())
    print(f"{title}: {total:.1f} s, load {load_before:.1f}", flush=True)
    return "\n".join(
        [
            f"**{title}**: all five served after **{total:.1f} s** (load average "
            f"{load_before:.1f} at the start); per push median {statistics.median(pushes):.1f} s, "
            f"min {min(pushes):.1f} s, max {max(pushes):.1f} s.",
            "",
            "| app (in the order it was queued) | waited in the queue | build | push → serving |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            f"Queued: {', '.join(label[a] for a in arrived)}; builds started: "
            f"{', '.join(label[a] for a in began)} ({overtaken} pairs started in the other order "
            "than they were queued).",
        ]
    )


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="xae-bench-gitconc-"))
    plane = Plane(root)
    parts: list[str] = []
    load_start = load()
    try:
        plane.start()
        port = router_port(plane)
        env = git_env(plane)
        repos: dict[str, Path] = {}
        needles: dict[str, str] = {}
        for n in range(1, APPS + 1):
            app = new_app(plane, f"gcc{n}")
            token = secrets.token_hex(8)
            repos[app] = root / app
            python_app(repos[app], token)
            needles[app] = f"cold-{token}"
            first_commit(plane, repos[app], app, needles[app], env)
        parts.append(
            round_of_pushes(
                plane, repos, port, needles, "Cold, first push of each", COLD_LOG["python"]
            )
        )
        for r in range(1, ROUNDS + 1):
            for app, repo in repos.items():
                needles[app] = f"warm-{r}-{secrets.token_hex(4)}"
                code_change(repo, needles[app], env)
            parts.append(
                round_of_pushes(plane, repos, port, needles, f"Code-only change, round {r}")
            )
    finally:
        plane.stop()
        shutil.rmtree(root, ignore_errors=True)
    text = "\n".join(
        [
            f"{SECTION} — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            "",
            f"`python -m bench.git_concurrent` (`make bench`) on {machine()}; load average "
            f"{load_start:.1f} before, {load():.1f} after (the machine is shared). A plane of "
            "its own with `build_concurrency` 1; five apps (the Python app of the section "
            f"above), each pushed with the real git client, all five at once; {ROUNDS} rounds "
            "of code-only changes after the cold first pushes (each with its own "
            "requirements token, so five dependency installs from the network, checked in each "
            "build log). Who starts when a slot frees is the queue's fairness rule "
            "(xae.codecenter.queue): among the waiting apps, the one that started a build least "
            "recently, ties by arrival. So the first cold round (no app has built yet) runs "
            "first come, first served, and in later rounds a build may start before one that "
            "arrived earlier when its app built less recently: that is the rule, not a "
            "reordering bug; the builds-started order of round 2 follows round 1's.",
            "",
            "\n\n".join(parts),
        ]
    )
    print(text)
    write_section(text, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
