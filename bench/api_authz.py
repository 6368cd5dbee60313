"""API latency with authorization on: is deciding who may do what cheap at 1,000 apps?

A control plane of the benchmark's own (`xae-admin start`, docker backend, its own state dir,
ports and plane name; SQLite in WAL mode) gets 1,000 apps in 50 teams, written straight into its
store so that set-up takes seconds (the apps have no containers: the API is what is measured,
not Docker). A user who owns all 50 teams (so every request loads 50 roles) then sends, over
HTTP with keep-alive, at a fixed 20 requests/s for 30 s each, interleaved in rounds:

- an authorized single-object read, `GET /v1/apps/{name}` of a random app;
- an authorized write that does not deploy, `PATCH /v1/apps/{name}` (health settings);
- an authorized write on a team, `PUT /v1/teams/{team}/members/{user}` (a role change);
- the baseline, `GET /healthz` of the same process (no token, no store).

Latency is timed from each request's scheduled start (open loop: a slow answer does not delay
the next request, so it is not hidden). It is measured twice, each on a fresh plane: with the
reconciler idle (the API and the policy alone) and with it on, as it runs by default (a pass
over every app every 2 s, in the same process). The results replace this benchmark's own section of
docs/benchmarks.md; everything else in the file is kept.
"""

from __future__ import annotations

import json
import os
import random
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
from pathlib import Path

import docker
import httpx
from sqlalchemy import select

from bench.report import write_section
from bench.run import machine
from xae.builder.jail import remove_plane_jail
from xae.domain.access import Role
from xae.store.db import Database
from xae.store.models import App, Membership, Team, User

BIN = Path(sys.executable).parent
TEAMS, APPS = 50, 1000
RATE = 20.0
SECONDS = 30.0
ROUNDS = 3
TARGET_P99_MS = 50.0
SECTION = "### API latency with authorization"


@dataclass
class Kind:
    name: str
    send: Callable[[httpx.Client], httpx.Response]
    target: bool = True


@dataclass
class Measured:
    kind: Kind
    latencies: list[float]

    def quantile(self, q: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def admin(env: dict[str, str], *args: str) -> None:
    proc = subprocess.run(
        [str(BIN / "xae-admin"), *args], env=env, capture_output=True, text=True, timeout=180
    )
    if proc.returncode != 0:
        raise SystemExit(f"xae-admin {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")


def populate(db: Database, owner: str, member: str) -> tuple[list[str], list[str]]:
    """50 teams of 20 apps each; `owner` owns every team and `member` is in each. Straight
    into the store: creating 1,000 apps through the API would only time set-up."""
    with db.session() as session:
        owner_id = session.scalars(select(User.id).where(User.name == owner)).one()
        member_id = session.scalars(select(User.id).where(User.name == member)).one()
        teams, apps = [], []
        for t in range(TEAMS):
            team = Team(name=f"bench-team-{t:02d}")
            session.add(team)
            session.flush()
            session.add(Membership(team_id=team.id, user_id=owner_id, role=Role.OWNER))
            session.add(Membership(team_id=team.id, user_id=member_id, role=Role.VIEWER))
            teams.append(team.name)
            for a in range(APPS // TEAMS):
                name = f"bench-{t:02d}-{a:02d}"
                session.add(App(name=name, team_id=team.id, config={"KEY": "value"}))
                apps.append(name)
    return teams, apps


def load(client: httpx.Client, kind: Kind, seconds: float) -> list[float]:
    """Send `kind` at RATE per second for `seconds`; each latency (ms) from its scheduled
    start."""
    count = int(RATE * seconds)
    latencies: list[float] = [0.0] * count
    failures: list[str] = []
    start = time.monotonic() + 0.1

    def one(i: int) -> None:
        scheduled = start + i / RATE
        delay = scheduled - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        response = kind.send(client)
        latencies[i] = (time.monotonic() - scheduled) * 1000
        if not response.is_success:
            failures.append(f"{response.status_code} {response.text[:200]}")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(count)))
    if failures:
        raise SystemExit(f"{kind.name}: {len(failures)} failed, e.g. {failures[0]}")
    return latencies


def kinds(apps: list[str], teams: list[str], member: str) -> list[Kind]:
    pick = random.Random(9)
    lock = threading.Lock()

    def choice(items: list[str]) -> str:
        with lock:
            return pick.choice(items)

    def role() -> str:
        with lock:
            return pick.choice(["viewer", "developer"])

    return [
        Kind("GET /healthz (baseline, same process)", lambda c: c.get("/healthz"), False),
        Kind("GET /v1/apps/{name} (read)", lambda c: c.get(f"/v1/apps/{choice(apps)}")),
        Kind(
            "PATCH /v1/apps/{name} (write: health settings)",
            lambda c: c.patch(
                f"/v1/apps/{choice(apps)}",
                json={"health_attempts": pick.randint(2, 5), "drain_seconds": 5.0},
            ),
        ),
        Kind(
            "PUT /v1/teams/{team}/members/{user} (write: role change)",
            lambda c: c.put(f"/v1/teams/{choice(teams)}/members/{member}", json={"role": role()}),
        ),
    ]


def run(api: str, token: str, apps: list[str], teams: list[str], member: str) -> list[Measured]:
    measured = {k.name: Measured(k, []) for k in kinds(apps, teams, member)}
    with httpx.Client(
        base_url=api,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
    ) as client:
        for m in measured.values():  # warm up: connections, caches, first imports
            for _ in range(5):
                m.kind.send(client)
        for _ in range(ROUNDS):
            for m in measured.values():
                m.latencies += load(client, m.kind, SECONDS / ROUNDS)
    return list(measured.values())


def report(results: dict[str, list[Measured]], load_before: float, load_after: float) -> str:
    lines = [
        f"{SECTION} — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Machine: {machine()}; load average {load_before:.1f} before the run and "
        f"{load_after:.1f} after (the machine is shared). Written by `make bench` "
        "(bench/api_authz.py).",
        "",
        f"A control plane of the benchmark's own (`xae-admin start`, docker backend, SQLite in "
        f"WAL mode) with {APPS:,} apps in {TEAMS} teams, written straight into its store to "
        "keep set-up short (they have no containers; `GET /v1/apps/{name}` still asks Docker "
        f"for the app's instances). The caller owns all {TEAMS} teams, so every request loads "
        f"{TEAMS} roles. {RATE:g} requests/s over HTTP with keep-alive, {SECONDS:g} s per "
        f"request type in {ROUNDS} interleaved rounds; latency from each request's scheduled "
        "start (open loop). Measured twice, on a fresh plane each: with the reconciler idle "
        "(the API and the policy alone) and with it passing over all apps every 2 s, as it "
        "does by default.",
        "",
        "| plane | request | n | p50 | p99 | p99 / baseline p99 | target p99 | met |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for label, measured in results.items():
        baseline = next(r for r in measured if not r.kind.target)
        base_p99 = baseline.quantile(99)
        for r in measured:
            p50, p99 = r.quantile(50), r.quantile(99)
            if r.kind.target:
                ratio = f"{p99 / base_p99:.1f}×"
                target = f"≤ {TARGET_P99_MS:g} ms"
                met = "yes" if p99 <= TARGET_P99_MS else "**no**"
            else:
                ratio, target, met = "1×", "—", "—"
            lines.append(
                f"| {label} | {r.kind.name} | {len(r.latencies)} | {p50:.1f} ms | {p99:.1f} ms "
                f"| {ratio} | {target} | {met} |"
            )
    return "\n".join(lines)


@dataclass
class Variant:
    label: str
    env: dict[str, str]


VARIANTS = [
    Variant("reconciler idle", {"XAE_RECONCILE_INTERVAL": "3600"}),
    Variant("reconciler on (every 2 s, the default)", {}),
]
"""The plane as it runs by default, and with its reconciler idle: its first pass runs before the
apps are written and the next one after the run, so only the API and the policy are timed."""


def measure(variant: Variant) -> list[Measured]:
    state = Path(tempfile.mkdtemp(prefix="xae-bench-authz-"))
    env = {
        **os.environ,
        "XAE_STATE_DIR": str(state / "state"),
        "XAE_API_PORT": str(free_port()),
        "XAE_ROUTER_PORT": str(free_port()),
        "XAE_TLS_PORT": str(free_port()),
        "XAE_PLANE": f"bench{secrets.token_hex(2)}",
        "XAE_BACKEND": "docker",
        "XDG_CONFIG_HOME": str(state / "config"),
        "NO_COLOR": "1",
        **variant.env,
    }
    for key in ("XAE_TOKEN", "XAE_API_URL"):
        env.pop(key, None)
    api = f"http://127.0.0.1:{env['XAE_API_PORT']}"
    admin(env, "start")
    try:
        admin(env, "bootstrap")
        root = json.loads((state / "config" / "xae" / "config.json").read_text())["token"]
        owner, member, password = "bench-owner", "bench-member", secrets.token_urlsafe(16)
        with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {root}"}) as c:
            for name in (owner, member):
                c.post("/v1/users", json={"name": name, "password": password}).raise_for_status()
        login = httpx.post(f"{api}/v1/auth/tokens", json={"username": owner, "password": password})
        login.raise_for_status()
        db = Database(f"sqlite:///{state / 'state' / 'xae.db'}")
        try:
            teams, apps = populate(db, owner, member)
        finally:
            db.engine.dispose()
        return run(api, login.json()["token"], apps, teams, member)
    finally:
        subprocess.run([str(BIN / "xae-admin"), "stop"], env=env, capture_output=True, timeout=60)
        client = docker.from_env(version="auto")
        try:
            remove_plane_jail(client, env["XAE_PLANE"])  # the plane's build network, firewall
        finally:
            client.close()
        shutil.rmtree(state, ignore_errors=True)


def main() -> int:
    load_before = os.getloadavg()[0]
    results = {v.label: measure(v) for v in VARIANTS}
    text = report(results, load_before, os.getloadavg()[0])
    print(text)
    write_section(text, SECTION)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
