"""Secrets stay secret on a running plane: private files, a password printed once and kept
only as a hash, logins that give nothing away and cannot be guessed at speed.

Logins here come from their own loopback source addresses (127.x.y.z), so this module's failed
logins never throttle another test's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import sqlite3
import stat
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.e2e.harness import BIN, Plane

pytestmark = pytest.mark.backends("docker")

PASSWORD_LINE = re.compile(r"password for '([^']+)': (\S+)")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def address() -> str:
    """A loopback source address of this test's own."""
    a, b, c = (secrets.randbelow(254) + 1 for _ in range(3))
    return f"127.{a}.{b}.{c}"


def client(plane: Plane, source: str) -> httpx.Client:
    return httpx.Client(
        base_url=plane.api, timeout=30, transport=httpx.HTTPTransport(local_address=source)
    )


def admin(plane: Plane, *args: str, config: Path | None = None) -> str:
    env = dict(plane.env)
    if config is not None:  # keep the harness's own CLI login untouched
        env["XDG_CONFIG_HOME"] = str(config)
    proc = subprocess.run(
        [str(BIN / "xae-admin"), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def new_user(plane: Plane) -> tuple[str, str]:
    name = f"u-{secrets.token_hex(3)}"
    match = PASSWORD_LINE.search(admin(plane, "create-user", name))
    assert match is not None and match.group(1) == name
    return name, match.group(2)


def log_in(http: httpx.Client, name: str, password: str) -> httpx.Response:
    return http.post("/v1/auth/tokens", json={"username": name, "password": password})


def test_the_state_dir_and_everything_xae_writes_in_it_are_private(plane: Plane) -> None:
    state = plane.state_dir
    assert mode(state) == 0o700
    assert not (state / "admin-password").exists()
    for name in ("xae.db", "xae.db-wal", "xae.db-shm", "xae.pid", "logs/xae.log"):
        assert mode(state / name) == 0o600, name
    for name in ("logs", "router"):
        assert mode(state / name) == 0o700, name
    for path in (state / "router").iterdir():
        if path.is_file():
            assert mode(path) == 0o600, path
    master = int((state / "router" / "nginx.pid").read_text())
    workers = [
        pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
        if _field(pid, "PPid") == master
    ]  # fmt: skip
    assert workers and all(_field(pid, "Uid") != 0 for pid in workers)


def _field(pid: int, name: str) -> int | None:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in lines:
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    return None


def test_bootstrap_prints_the_password_once_and_reset_password_rotates_it(
    plane: Plane, tmp_path: Path
) -> None:
    name = f"ops-{secrets.token_hex(3)}"
    first = admin(plane, "bootstrap", "--username", name, config=tmp_path)
    match = PASSWORD_LINE.search(first)
    assert match is not None and match.group(1) == name
    password = match.group(2)
    again = admin(plane, "bootstrap", "--username", name, config=tmp_path)
    assert password not in again and PASSWORD_LINE.search(again) is None

    assert not (plane.state_dir / "admin-password").exists()
    for path in plane.state_dir.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 64 * 1024**2:
            assert password.encode() not in path.read_bytes(), path

    with client(plane, address()) as http:
        login = log_in(http, name, password)
        assert login.status_code == 201
        old_token = login.json()["token"]

        rotated = admin(plane, "reset-password", name)
        match = PASSWORD_LINE.search(rotated)
        assert match is not None and match.group(2) != password
        assert "revoked" in rotated

        assert log_in(http, name, password).status_code == 401
        assert log_in(http, name, match.group(2)).status_code == 201
        whoami = http.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {old_token}"})
        assert whoami.status_code == 401


def _median_failed_login(http: httpx.Client, name: str, calls: int = 5) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        assert log_in(http, name, "not-the-password").status_code == 401
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_a_login_takes_as_long_and_says_the_same_for_unknown_and_known_users(
    plane: Plane,
) -> None:
    name, _ = new_user(plane)
    unknown = f"nobody-{secrets.token_hex(3)}"
    with client(plane, address()) as http:
        assert log_in(http, name, "x").json() == log_in(http, unknown, "x").json()
        known_s = _median_failed_login(http, name)
        unknown_s = _median_failed_login(http, unknown)
    # Before the fix: 67 ms against 2 ms. Now both check one scrypt hash.
    assert 1 / 3 < unknown_s / known_s < 3, (known_s, unknown_s)


def test_guessing_a_password_is_throttled_per_account_then_per_address(plane: Plane) -> None:
    name, password = new_user(plane)
    with client(plane, address()) as http:
        for _ in range(10):  # XAE_LOGIN_FAILURES_PER_ACCOUNT's default
            assert log_in(http, name, "guess").status_code == 401
        refused = log_in(http, name, password)
    assert refused.status_code == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= 900
    assert f"try again in {retry_after} seconds" in refused.json()["error"]["message"]
    with client(plane, address()) as elsewhere:  # the account, not the address, is blocked
        assert log_in(elsewhere, name, password).status_code == 429

    other, other_password = new_user(plane)
    with client(plane, address()) as http:
        for i in range(50):  # XAE_LOGIN_FAILURES_PER_ADDRESS's default, one guess per name
            assert log_in(http, f"guess-{i}", "guess").status_code == 401
        refused = log_in(http, other, other_password)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    with client(plane, address()) as elsewhere:
        assert log_in(elsewhere, other, other_password).status_code == 201


def test_another_users_app_is_not_found_exactly_like_a_missing_one(plane: Plane) -> None:
    app = plane.new_app("mine")
    name, password = new_user(plane)
    missing = f"gone-{secrets.token_hex(3)}"
    with client(plane, address()) as http:
        token = log_in(http, name, password).json()["token"]
        http.headers["Authorization"] = f"Bearer {token}"
        theirs = http.get(f"/v1/apps/{app}")
        absent = http.get(f"/v1/apps/{missing}")
    assert theirs.status_code == absent.status_code == 404
    assert theirs.text.replace(app, "NAME") == absent.text.replace(missing, "NAME")


def _stored_bytes(plane: Plane) -> bytes:
    """Every byte of the plane's store as it lies on disk (the database and its WAL)."""
    files = [p for p in plane.state_dir.glob("xae.db*") if p.is_file()]
    assert files
    return b"".join(p.read_bytes() for p in files)


def _audit_details(plane: Plane) -> list[tuple[str, str]]:
    """(action, details) of every audit event, read from the store as an operator would."""
    uri = f"file:{plane.state_dir / 'xae.db'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        return [(str(a), str(d)) for a, d in db.execute("SELECT action, details FROM events")]


def _image_metadata(image: str) -> str:
    proc = subprocess.run(
        ["docker", "image", "inspect", image], capture_output=True, text=True, timeout=60
    )
    history = subprocess.run(
        ["docker", "history", "--no-trunc", image], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and history.returncode == 0, proc.stderr + history.stderr
    return proc.stdout + history.stdout


def test_a_config_value_is_sealed_at_rest_kept_out_of_logs_and_builds_and_survives_rotate_key(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app = plane.new_app("seal")
    source = app_source("flask")
    plane.deploy(app, source)
    secret = f"sek-{secrets.token_hex(12)}"

    plane.xae("config:set", f"GREETING={secret}", "--app", app)

    assert f"greeting={secret}" in plane.get(app).text  # the app gets the value
    assert secret.encode() not in _stored_bytes(plane)
    log = plane.state_dir / "logs" / "xae.log"
    assert secret not in log.read_text(errors="replace")
    events = _audit_details(plane)
    assert any(a == "config.change" and "GREETING" in d for a, d in events)  # names only
    assert all(secret not in details for _, details in events)

    redeploy = plane.deploy(app, source)
    assert secret not in redeploy.stdout + redeploy.stderr  # the build output
    current = plane.xae_json("releases", "--app", app)[0]
    assert current["status"] == "succeeded"
    assert current["config_keys"] == ["GREETING"]
    assert secret not in _image_metadata(current["image"])  # builds never get config
    assert f"greeting={secret}" in plane.get(app).text

    key_file = plane.state_dir / "secrets.key"
    assert mode(key_file) == 0o600
    old_ring = key_file.read_bytes()
    rotated = plane.admin("rotate-key")
    assert "sealed the config" in rotated.stdout
    assert key_file.read_bytes() != old_ring and mode(key_file) == 0o600
    for old_key in old_ring.split():
        assert old_key not in rotated.stdout.encode() + rotated.stderr.encode()
        assert old_key not in key_file.read_bytes()  # the old key is gone
    assert any(a == "vault.rotate" for a, _ in _audit_details(plane))

    assert f"greeting={secret}" in plane.get(app).text  # running instances keep serving
    assert plane.xae_json("config", "--app", app)["GREETING"] == secret  # the plane opens it
    plane.deploy(app, source)  # a redeploy after the rotation
    assert f"greeting={secret}" in plane.get(app).text
    plane.xae("config:set", "OTHER=1", "--app", app)
    assert f"greeting={secret}" in plane.get(app).text
    assert secret.encode() not in _stored_bytes(plane)
    assert secret not in log.read_text(errors="replace")


def test_an_app_json_default_is_applied_but_never_stored_or_shown_in_clear(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    """A default in app.json can be a secret: the app gets it, while the store keeps it sealed
    and no build log, build listing or `builds:info` shows it."""
    app = plane.new_app("mdef")
    source = app_source("app-json")
    secret = f"def-{secrets.token_hex(12)}"
    manifest = json.loads((source / "app.json").read_text())
    manifest["env"]["GREETING"]["value"] = secret
    (source / "app.json").write_text(json.dumps(manifest))

    deployed = plane.deploy(app, source)

    assert "config defaults from the manifest: GREETING, SALT" in deployed.stdout
    assert plane.get(app, "/state").json()["greeting"] == secret  # the app gets the default
    [build] = plane.xae_json("builds", "--app", app)
    shown = [
        deployed.stdout + deployed.stderr,
        json.dumps(build),
        plane.xae("builds:info", str(build["id"]), "--app", app).stdout,
        json.dumps(plane.xae_json("builds:info", str(build["id"]), "--app", app)),
        plane.xae("builds:logs", str(build["id"]), "--app", app).stdout,
        (plane.state_dir / "logs" / "xae.log").read_text(errors="replace"),
    ]
    assert all(secret not in text for text in shown)
    assert secret.encode() not in _stored_bytes(plane)
