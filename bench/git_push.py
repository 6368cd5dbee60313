"""`git push` to the new release serving, for a code-only change with a warm cache.

Against the xae the CLI is logged in to (`make up`): the Python example in a fresh git
repository, its remote added by `xae git:remote`, pushed once (cold, reported but not the
target), then `RUNS` commits that each change only the greeting; a sample is from the start of
`git push xae main` to the router serving the new greeting. The app is destroyed afterwards.
The results replace this benchmark's section of docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import write_section
from bench.run import EXAMPLE, machine, router_port, serves, until, xae

RUNS = 5
TARGET_S = 2.5
SECTION = "### git push to serving"


def git(repo: Path, *args: str, env: dict[str, str]) -> None:
    proc = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed:\n{proc.stderr}")


def change(repo: Path, greeting: str) -> None:
    (repo / "GREETING.txt").write_text(greeting + "\n")


def push(repo: Path, app: str, port: int, greeting: str, env: dict[str, str]) -> float:
    change(repo, greeting)
    git(repo, "commit", "-q", "-am", f"say {greeting}", env=env)
    started = time.monotonic()
    git(repo, "push", "-q", "xae", "main", env=env)
    until(lambda: serves(app, port, greeting), timeout=600)
    return time.monotonic() - started


def prepare(repo: Path, app: str, env: dict[str, str]) -> None:
    shutil.copytree(EXAMPLE, repo)
    # The example reads its greeting from the environment; the benchmark's change is a file
    # the app reads, so each push is a code-only change (no dependency change, no config).
    app_py = repo / "app.py"
    app_py.write_text(
        app_py.read_text().replace(
            "def hello() -> str:\n",
            "def hello() -> str:\n"
            "    return open(os.path.join(os.path.dirname(__file__), 'GREETING.txt')).read()\n",
        )
    )
    change(repo, "cold")
    git(repo, "init", "-q", "-b", "main", env=env)
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "-m", "first", env=env)
    subprocess.run(
        [str(Path(sys.executable).parent / "xae"), "git:remote", "--app", app],
        cwd=repo,
        check=True,
        capture_output=True,
        timeout=60,
    )


def report(cold: float, warm: list[float], load: tuple[float, float]) -> str:
    median = statistics.median(warm)
    met = "yes" if median <= TARGET_S else "**no**"
    return "\n".join(
        [
            f"{SECTION} — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            "",
            f"Machine: {machine()}; load average {load[0]:.1f} before the run and "
            f"{load[1]:.1f} after (the machine is shared). Written by `make bench` "
            "(bench/git_push.py).",
            "",
            "The Python example in a git repository with the remote `xae git:remote` adds; a "
            "sample is `git push xae main` of a commit changing one file the app serves, until "
            "the router serves the new text (build, release, health-gated rollout included).",
            "",
            "| push | n | median | min | max | target | met |",
            "|---|---:|---:|---:|---:|---|---|",
            f"| code-only change, warm cache | {len(warm)} | {median:.2f} s | {min(warm):.2f} s "
            f"| {max(warm):.2f} s | median ≤ {TARGET_S:g} s | {met} |",
            f"| first push (cold for this app) | 1 | {cold:.2f} s | — | — | — | — |",
        ]
    )


def main() -> int:
    load_before = os.getloadavg()[0]
    app = f"bench-git-{secrets.token_hex(2)}"
    xae("apps:create", app)
    home = Path(tempfile.mkdtemp(prefix="xae-bench-git-"))
    env = os.environ | {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.org",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.org",
    }
    try:
        port = router_port()
        repo = home / "app"
        prepare(repo, app, env)
        started = time.monotonic()
        git(repo, "push", "-q", "xae", "main", env=env)
        until(lambda: serves(app, port, "cold"), timeout=900)
        cold = time.monotonic() - started
        warm = [push(repo, app, port, f"warm-{i}-{secrets.token_hex(3)}", env) for i in range(RUNS)]
    finally:
        xae("apps:destroy", app, "--confirm", app)
        shutil.rmtree(home, ignore_errors=True)
    text = report(cold, warm, (load_before, os.getloadavg()[0]))
    print(text)
    print(json.dumps({"cold_s": cold, "warm_s": warm}))
    write_section(text, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
