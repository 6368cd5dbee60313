"""Teams, roles, tokens and the audit trail, driven through the real CLI as four people would:
an admin who makes the accounts and the team, a developer who ships an app, a viewer who may
only look, and an outsider who must not even learn that the app exists. Then the developer's
CI tokens: a `read` one cannot deploy, one limited to the app deploys it and sees nothing else,
and a revoked one is refused at once. The audit trail shows who did what, with which token.

Each person is a CLI with its own config directory (`XDG_CONFIG_HOME`), logged in with the
password `users:create` printed; a token is used the way CI uses one, through `XAE_TOKEN`.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.harness import BIN, FIXTURES, Plane

pytestmark = [pytest.mark.e2e, pytest.mark.backends("docker")]

PASSWORD_LINE = re.compile(r"password for '([^']+)': (\S+)")


@dataclass
class Cli:
    """`xae` as one person runs it: their own config dir, or a token in `XAE_TOKEN`."""

    plane: Plane
    env: dict[str, str]

    def __call__(self, *args: str, ok: bool | None = True) -> subprocess.CompletedProcess[str]:
        """Run `xae args`; `ok` True: it must succeed, False: it must fail, None: either."""
        proc = subprocess.run(
            [str(BIN / "xae"), *args], env=self.env, capture_output=True, text=True, timeout=600
        )
        if ok is True and proc.returncode != 0:
            pytest.fail(f"`xae {' '.join(args)}` exited {proc.returncode}:\n{proc.stderr}")
        if ok is False and proc.returncode == 0:
            pytest.fail(f"`xae {' '.join(args)}` succeeded; it should not have:\n{proc.stdout}")
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def with_token(self, token: str) -> Cli:
        return Cli(self.plane, self.env | {"XAE_TOKEN": token, "XAE_API_URL": self.plane.api})


def person(plane: Plane, home: Path, email: str, password: str) -> Cli:
    cli = Cli(plane, plane.env | {"XDG_CONFIG_HOME": str(home)})
    login = cli("login", "--api-url", plane.api, "--email", email, "--password", password)
    assert f"logged in as {email}" in login.stdout
    return cli


def create_user(admin: Cli, email: str) -> str:
    out = admin("users:create", email).stdout
    match = PASSWORD_LINE.search(out)
    assert match is not None and match.group(1) == email, out
    assert "xae-admin reset-password" in out
    return match.group(2)


@dataclass
class Blue:
    admin: Cli
    dev: Cli
    viewer: Cli
    outsider: Cli
    app: str
    other: str
    source: Path


@pytest.fixture(scope="module")
def blue(
    plane: Plane, tmp_path_factory: pytest.TempPathFactory, fixtures_static: Path
) -> Iterator[Blue]:
    """Team `blue` with a developer, a viewer, and an app the developer deployed; an outsider.
    Everything made here is removed afterwards, so the plane's other tests see none of it."""
    homes = tmp_path_factory.mktemp("people")
    admin = Cli(plane, dict(plane.env))
    suffix = secrets.token_hex(2)
    emails = {
        "dev": "dev@example.com",
        "viewer": "view@example.com",
        "outsider": f"out-{suffix}@example.com",
    }
    passwords = {who: create_user(admin, email) for who, email in emails.items()}
    team = "blue"
    apps: list[str] = []
    try:
        admin("teams:create", team)
        admin("teams:members:add", emails["dev"], "--team", team, "--role", "developer")
        admin("teams:members:add", emails["viewer"], "--team", team, "--role", "viewer")
        dev, viewer, outsider = (
            person(plane, homes / who, emails[who], passwords[who])
            for who in ("dev", "viewer", "outsider")
        )
        app, other = f"blue-{suffix}", f"blue-other-{suffix}"
        created = dev("apps:create", app)  # the developer's only team: no --team needed
        apps.append(app)
        assert f"created {app} in team blue" in created.stdout
        dev("apps:create", other, "--team", team)
        apps.append(other)
        dev("deploy", str(fixtures_static), "--app", app)
        dev("config:set", "GREETING=hello", "SECRET_KEY=s3cret-value", "--app", app)
        yield Blue(admin, dev, viewer, outsider, app, other, fixtures_static)
    finally:
        # Each step runs even if one before failed; the last checks say whether all went.
        for name in apps:
            admin("apps:destroy", name, "--confirm", name, ok=None)
        admin("teams:destroy", team, "--confirm", team, ok=None)
        for email in emails.values():
            admin("users:remove", email, "--confirm", email, ok=None)
        assert team not in {t["name"] for t in admin.json("teams")}
        assert not set(emails.values()) & {u["name"] for u in admin.json("users")}


@pytest.fixture(scope="module")
def fixtures_static(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the static fixture app (the quickest to build)."""
    target = tmp_path_factory.mktemp("src") / "static"
    shutil.copytree(FIXTURES / "static", target)
    return target


def test_the_admin_sees_the_accounts_and_the_team_with_its_members(blue: Blue) -> None:
    users = {u["name"]: u["is_admin"] for u in blue.admin.json("users")}
    assert users["dev@example.com"] is False and users["view@example.com"] is False
    info = blue.admin.json("teams:info", "blue")
    members = {m["user"]: m["role"] for m in info["members"]}
    assert members["dev@example.com"] == "developer"
    assert members["view@example.com"] == "viewer"
    assert sorted(info["apps"]) == sorted([blue.app, blue.other])


def test_whoami_shows_each_persons_team_role_and_token(blue: Blue) -> None:
    out = blue.dev("whoami").stdout
    assert re.search(r"user:\s+dev@example.com", out)
    assert re.search(r"admin:\s+no", out)
    assert re.search(r"teams:\s+blue \(developer\)", out)
    assert re.search(r"token:\s+login", out) and re.search(r"scope:\s+admin", out)
    assert blue.viewer.json("whoami")["teams"] == [{"team": "blue", "role": "viewer"}]
    assert blue.outsider.json("whoami")["teams"] == []


def test_the_viewer_sees_the_app_and_config_names_but_no_values(blue: Blue) -> None:
    listed = blue.viewer("apps").stdout
    row = next(line.split() for line in listed.splitlines() if line.split()[:1] == [blue.app])
    assert row[:3] == [blue.app, "blue", "v2"]
    assert blue.viewer.json("config", "--app", blue.app) == {"GREETING": None, "SECRET_KEY": None}
    shown = blue.viewer("config", "--app", blue.app).stdout
    assert "SECRET_KEY" in shown and "hidden" in shown and "s3cret-value" not in shown
    assert blue.dev.json("config", "--app", blue.app)["SECRET_KEY"] == "s3cret-value"


def _state(blue: Blue) -> tuple[Any, ...]:
    """What a refused change must leave as it was: releases, config, formation, the app."""
    app = blue.app
    return (
        [r["version"] for r in blue.dev.json("releases", "--app", app)],
        blue.dev.json("config", "--app", app),
        blue.dev.json("ps", "--app", app)["formation"],
        blue.dev.json("apps:info", app)["release"],
    )


def test_the_viewers_changes_are_refused_naming_the_role_and_change_nothing(
    blue: Blue,
) -> None:
    app = blue.app
    before = _state(blue)
    refusals = {
        "deploy": blue.viewer("deploy", str(blue.source), "--app", app, ok=False),
        "config:set": blue.viewer("config:set", "GREETING=pwned", "--app", app, ok=False),
        "ps:scale": blue.viewer("ps:scale", "web=3", "--app", app, ok=False),
        "apps:destroy": blue.viewer("apps:destroy", app, "--confirm", app, ok=False),
    }
    for command, proc in refusals.items():
        assert "(forbidden)" in proc.stderr, (command, proc.stderr)
        assert "you are a viewer of team 'blue'" in proc.stderr, (command, proc.stderr)
        needed = "owner" if command == "apps:destroy" else "developer"
        assert f"needs the {needed} role" in proc.stderr, (command, proc.stderr)
    assert _state(blue) == before
    assert blue.admin.plane.get(app).status_code == 200


def test_an_outsider_cannot_tell_the_app_exists(blue: Blue) -> None:
    missing = f"gone-{secrets.token_hex(3)}"
    theirs = blue.outsider("apps:info", blue.app, ok=False)
    absent = blue.outsider("apps:info", missing, ok=False)
    assert "(not_found)" in theirs.stderr
    assert theirs.stderr.replace(blue.app, "NAME") == absent.stderr.replace(missing, "NAME")
    assert blue.outsider.json("apps") == []
    assert "(not_found)" in blue.outsider("teams:info", "blue", ok=False).stderr


def test_a_read_token_reads_but_cannot_deploy(blue: Blue) -> None:
    made = blue.dev.json("tokens:create", f"ro-{secrets.token_hex(2)}", "--scope", "read")
    ci = blue.dev.with_token(made["token"])
    try:
        assert [a["name"] for a in ci.json("apps")] == sorted([blue.app, blue.other])
        refused = ci("deploy", str(blue.source), "--app", blue.app, ok=False)
        assert "has scope read" in refused.stderr and "needs scope deploy" in refused.stderr
        assert "(forbidden)" in refused.stderr
    finally:
        blue.dev("tokens:revoke", str(made["id"]))


def test_an_app_token_deploys_its_app_sees_no_other_and_is_refused_once_revoked(
    blue: Blue,
) -> None:
    name = f"ci-{secrets.token_hex(2)}"
    out = blue.dev("tokens:create", name, "--app", blue.app, "--expires-in-days", "1").stdout
    token = next(line for line in out.splitlines() if line.startswith("xae_"))
    assert (
        out.count(token) == 1 and f"XAE_TOKEN=<the token> XAE_API_URL={blue.admin.plane.api}" in out
    )
    ci = blue.dev.with_token(token)
    whoami = ci.json("whoami")
    assert whoami["token"]["name"] == name and whoami["token"]["app"] == blue.app

    before = blue.dev.json("apps:info", blue.app)["release"]
    ci("deploy", str(blue.source), "--app", blue.app)
    assert blue.dev.json("apps:info", blue.app)["release"] == before + 1
    assert [a["name"] for a in ci.json("apps")] == [blue.app]
    elsewhere = ci("apps:info", blue.other, ok=False)
    assert "(not_found)" in elsewhere.stderr

    listed = {t["name"]: t for t in blue.dev.json("tokens")}
    assert listed[name]["last_used_at"] is not None and listed[name]["app"] == blue.app
    blue.dev("tokens:revoke", str(listed[name]["id"]))
    refused = ci("apps:info", blue.app, ok=False)
    assert "not logged in or token expired" in refused.stderr
    answer = httpx.get(
        f"{blue.admin.plane.api}/v1/apps/{blue.app}", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 401

    events = blue.admin.json("audit", "--app", blue.app, "--limit", "100")
    builds = [e for e in events if e["action"] == "build" and e["token_name"] == name]
    assert builds and builds[0]["actor"] == "dev@example.com"
    assert builds[0]["source"]
    by_dev = {(e["action"], e["token_name"]) for e in events if e["actor"] == "dev@example.com"}
    assert {("app.create", "login"), ("config.change", "login")} <= by_dev
    assert not [e for e in events if e["actor"] == "view@example.com"]
    ids = [e["id"] for e in events]
    assert ids == sorted(ids, reverse=True)  # newest first
    table = blue.admin("audit", "--app", blue.app).stdout
    assert f"dev@example.com ({name})" in table


def test_only_an_owner_moves_an_app_to_another_team(blue: Blue) -> None:
    refused = blue.dev("apps:transfer", blue.other, "--team", "default", ok=False)
    assert "needs the owner role" in refused.stderr and "(forbidden)" in refused.stderr
    moved = blue.admin("apps:transfer", blue.other, "--team", "default")
    assert f"moved {blue.other} to team default" in moved.stdout
    try:
        assert blue.other not in {a["name"] for a in blue.dev.json("apps")}
        teams = {a["name"]: a["team"] for a in blue.admin.json("apps")}
        assert teams[blue.other] == "default" and teams[blue.app] == "blue"
    finally:
        blue.admin("apps:transfer", blue.other, "--team", "blue")
    assert blue.other in {a["name"] for a in blue.dev.json("apps")}
