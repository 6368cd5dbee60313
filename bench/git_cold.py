"""`git push` to serving with the real git client: cold for Python and Node, warm for Node.

A plane of the benchmark's own (its own state dir, ports and name, like the tests' planes, so
`make up`'s is never touched). Every sample is `git push xae main` until the router serves the
pushed text (build, release and health-gated rollout included):

- Python cold: a new app each sample, a Flask app whose requirements.txt names three
  dependencies (flask, requests, python-dateutil; xae adds gunicorn). The requirements carry a
  comment with a random token, so the dependency layer is new and pip really downloads every
  package (through the machine's proxy; pip runs with --no-cache-dir).
- Node cold: a new app each sample, the Express fixture with a random token in its
  package.json description, so the `npm ci` layer is new and npm downloads express and its
  dependencies (npm's cache is removed in the same step).
- Node warm: commits to the last cold app that change only a file the app serves.

The results replace this benchmark's section of docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.build_queue import BIN, Plane
from bench.report import write_section
from bench.run import ROOT, machine

SECTION = "### git push to serving, cold and Node"
COLD_RUNS = 3
WARM_RUNS = 3
COLD_TARGET_S = 30.0
WARM_TARGET_S = 2.5
PUSH_TIMEOUT_S = 600.0
COLD_LOG = {"python": r"Downloading flask-", "node": r"added \d+ packages"}
"""What a cold push's build log shows: pip downloading, npm adding packages."""
EXPRESS = ROOT / "tests" / "fixtures" / "apps" / "express"

PY_APP = '''"""Benchmark app: serves GREETING.txt."""

from pathlib import Path

import dateutil
import requests
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return (Path(__file__).parent / "GREETING.txt").read_text()
'''

NODE_SERVER = """const fs = require("fs");
const path = require("path");
const express = require("express");

const app = express();
app.get("/", (req, res) => {
  res.type("text/plain").send(fs.readFileSync(path.join(__dirname, "GREETING.txt"), "utf8"));
});
const port = parseInt(process.env.PORT || "5000", 10);
const server = app.listen(port, "0.0.0.0");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
"""


def git_env(plane: Plane) -> dict[str, str]:
    """The plane's environment (so the credential helper finds its login) and a committer."""
    return plane.env | {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.org",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.org",
    }


def git(repo: Path, *args: str, env: dict[str, str]) -> str:
    """Run git; its stderr (where a push shows the remote's build log)."""
    proc = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=PUSH_TIMEOUT_S
    )
    if proc.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stderr


def router_port(plane: Plane) -> int:
    status = json.loads(plane.run("xae", "status", "--json"))
    return int(status["router"]["address"].rsplit(":", 1)[1])


def serves(app: str, port: int, needle: str) -> bool:
    try:
        response = httpx.get(
            f"http://127.0.0.1:{port}/", headers={"Host": f"{app}.localhost"}, timeout=5
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and needle in response.text


def until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for the push to serve")
        time.sleep(0.05)


def python_app(repo: Path, token: str) -> None:
    """A Flask app with three dependencies; `token` makes its dependency manifest unique."""
    repo.mkdir(parents=True)
    (repo / "app.py").write_text(PY_APP)
    (repo / "requirements.txt").write_text(
        f"# bench {token}\nflask==3.1.*\nrequests==2.*\npython-dateutil==2.*\n"
    )


def node_app(repo: Path, token: str) -> None:
    """The Express fixture serving GREETING.txt; `token` makes its package.json unique (a
    description is not part of the lockfile, so `npm ci` still accepts it)."""
    shutil.copytree(EXPRESS, repo)
    manifest = json.loads((repo / "package.json").read_text())
    manifest["description"] = f"xae benchmark {token}"
    (repo / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (repo / "server.js").write_text(NODE_SERVER)


def first_commit(plane: Plane, repo: Path, app: str, greeting: str, env: dict[str, str]) -> None:
    (repo / "GREETING.txt").write_text(greeting + "\n")
    git(repo, "init", "-q", "-b", "main", env=env)
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "-m", "first", env=env)
    proc = subprocess.run(
        [str(BIN / "xae"), "git:remote", "--app", app],
        cwd=repo,
        env=plane.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise SystemExit(f"xae git:remote failed:\n{proc.stdout}\n{proc.stderr}")


def code_change(repo: Path, greeting: str, env: dict[str, str]) -> None:
    (repo / "GREETING.txt").write_text(greeting + "\n")
    git(repo, "commit", "-q", "-am", f"say {greeting}", env=env)


def push_until_served(
    repo: Path, app: str, port: int, needle: str, env: dict[str, str], cold: str = ""
) -> float:
    """Seconds from `git push xae main` until the router serves `needle`. With `cold` (a
    pattern), the push's build log must match it: proof that the install really ran."""
    started = time.monotonic()
    log = git(repo, "push", "-q", "xae", "main", env=env)
    until(lambda: serves(app, port, needle), PUSH_TIMEOUT_S)
    took = time.monotonic() - started
    if cold and not re.search(cold, log):
        raise SystemExit(f"the push to {app} was not cold: its build log lacks {cold!r}:\n{log}")
    return took


def new_app(plane: Plane, prefix: str) -> str:
    app = f"{prefix}-{secrets.token_hex(2)}"
    plane.run("xae", "apps:create", app)
    plane.apps.append(app)
    return app


def cold_push(
    plane: Plane, root: Path, port: int, make: Callable[[Path, str], None], prefix: str, cold: str
) -> tuple[float, Path, str]:
    """One cold push to a new app; the seconds, the repository and the app."""
    env = git_env(plane)
    app = new_app(plane, prefix)
    token = secrets.token_hex(8)
    repo = root / app
    make(repo, token)
    first_commit(plane, repo, app, f"cold-{token}", env)
    return push_until_served(repo, app, port, f"cold-{token}", env, cold), repo, app


def warm_push(plane: Plane, repo: Path, app: str, port: int) -> float:
    env = git_env(plane)
    greeting = f"warm-{secrets.token_hex(4)}"
    code_change(repo, greeting, env)
    return push_until_served(repo, app, port, greeting, env)


def row(label: str, samples: list[float], target: float, loads: list[float]) -> str:
    median = statistics.median(samples)
    met = "yes" if median <= target else "**no**"
    return (
        f"| {label} | {len(samples)} | {median:.1f} s | {min(samples):.1f} s "
        f"| {max(samples):.1f} s | median ≤ {target:g} s | {met} "
        f"| {min(loads):.1f}–{max(loads):.1f} |"
    )


def load() -> float:
    return os.getloadavg()[0]


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="xae-bench-gitcold-"))
    plane = Plane(root)
    results: dict[str, list[float]] = {}
    loads: dict[str, list[float]] = {}

    def sample(key: str, measure: Callable[[], float]) -> None:
        loads.setdefault(key, []).append(load())
        results.setdefault(key, []).append(measure())
        print(f"{key}: {results[key][-1]:.2f} s (load {loads[key][-1]:.1f})", flush=True)

    try:
        plane.start()
        port = router_port(plane)
        # Warm the stacks' base images once, so a cold sample measures the app's own
        # dependencies, not the first pull of python-build/node images.
        cold_push(plane, root, port, python_app, "gcpre", COLD_LOG["python"])
        cold_push(plane, root, port, node_app, "gcnpre", COLD_LOG["node"])
        for _ in range(COLD_RUNS):
            sample(
                "python",
                lambda: cold_push(plane, root, port, python_app, "gcpy", COLD_LOG["python"])[0],
            )
        last: list[tuple[Path, str]] = []

        def node_cold() -> float:
            took, repo, app = cold_push(plane, root, port, node_app, "gcnode", COLD_LOG["node"])
            last[:] = [(repo, app)]
            return took

        for _ in range(COLD_RUNS):
            sample("node", node_cold)
        for _ in range(WARM_RUNS):
            sample("node warm", lambda: warm_push(plane, *last[0], port))
    finally:
        plane.stop()
        shutil.rmtree(root, ignore_errors=True)
    text = report(results, loads)
    print(text)
    print(json.dumps(results))
    write_section(text, SECTION)
    return 0


def report(results: dict[str, list[float]], loads: dict[str, list[float]]) -> str:
    return "\n".join(
        [
            f"{SECTION} — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            "",
            f"`python -m bench.git_cold` (`make bench`) on {machine()}; a plane of its own. "
            "A sample is `git push xae main` (the real git client, smart HTTP, the credential "
            "helper `xae git:remote` sets) until the router serves the pushed text: build, "
            "release and health-gated rollout included.",
            "",
            "Cold means cold for the dependency layer: each cold sample is a new app whose "
            "dependency manifest carries a random token (a comment in requirements.txt, the "
            "`description` of package.json), so the install layer is rebuilt and pip (with "
            "`--no-cache-dir`) or `npm ci` (its cache removed in the same step) downloads every "
            "package again, through the machine's TLS-intercepting proxy; the benchmark checks "
            "each cold push's build log for it (pip's `Downloading flask-…`, npm's `added N "
            "packages`). The stacks' base "
            "images are already present (one unmeasured push of each first). The Python app "
            "needs flask, requests and python-dateutil (14 packages downloaded; xae then adds "
            "gunicorn with uv, which resolves it in ~0.1 s); the Node app is the Express fixture "
            "(express 4: npm adds 71 packages). The Node rows use the same ≤ 30 s (cold) and "
            "≤ 2.5 s (warm) targets as the Python ones.",
            "",
            "| push | n | median | min | max | target | met | load average |",
            "|---|---:|---:|---:|---:|---|---|---|",
            row("Python, cold (3 dependencies)", results["python"], COLD_TARGET_S, loads["python"]),
            row("Node (Express), cold", results["node"], COLD_TARGET_S, loads["node"]),
            row(
                "Node (Express), code-only, warm",
                results["node warm"],
                WARM_TARGET_S,
                loads["node warm"],
            ),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
