"""`xae teams*` and `xae users*`: request shapes, tables, confirmations, passwords shown once."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from tests.unit.cli.cli_fakes import FakeApi
from typer.testing import Result

TEAM: dict[str, Any] = {
    "name": "blue",
    "role": "owner",
    "created_at": "2026-01-02T03:04:05Z",
    "members": [
        {"user": "ada@example.com", "role": "owner"},
        {"user": "dev@example.com", "role": "developer"},
    ],
    "apps": ["shop", "blog"],
}


def rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines() if line.strip()]


def test_teams_lists_each_team_with_your_role(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json(
        "GET",
        "/v1/teams",
        [
            {"name": "blue", "role": "developer", "created_at": "2026-01-02T03:04:05Z"},
            {"name": "red", "role": None, "created_at": "2026-01-02T03:04:05Z"},
        ],
    )
    result = run("teams")
    assert result.exit_code == 0, result.output
    assert rows(result.stdout) == [
        ["team", "your", "role", "created"],
        ["blue", "developer", "2026-01-02", "03:04:05"],
        ["red", "(admin)", "2026-01-02", "03:04:05"],
    ]


def test_teams_create_posts_the_name_and_says_what_next(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("POST", "/v1/teams", TEAM, status=201)
    result = run("teams:create", "blue")
    assert result.exit_code == 0, result.output
    assert fake_api.last_json() == {"name": "blue"}
    assert "created team blue; you are its owner" in result.stdout
    assert "xae teams:members:add EMAIL --team blue --role developer" in result.stdout


def test_teams_info_shows_members_with_roles_and_apps(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("GET", "/v1/teams/blue", TEAM)
    result = run("teams:info", "blue")
    assert result.exit_code == 0, result.output
    found = rows(result.stdout)
    assert ["apps:", "shop,", "blog"] in found
    assert ["ada@example.com", "owner"] in found
    assert ["dev@example.com", "developer"] in found
    assert json.loads(run("teams:info", "blue", "--json").stdout) == TEAM


def test_teams_destroy_needs_the_name_again(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.on("DELETE", "/v1/teams/blue", lambda _: httpx.Response(204))
    unconfirmed = run("teams:destroy", "blue")
    assert unconfirmed.exit_code == 2 and "--confirm blue" in unconfirmed.stderr
    mismatch = run("teams:destroy", "blue", "--confirm", "bleu")
    assert mismatch.exit_code == 1 and "nothing was destroyed" in mismatch.stderr
    assert fake_api.requests == []
    result = run("teams:destroy", "blue", "--confirm", "blue")
    assert result.exit_code == 0, result.output
    assert (fake_api.last.method, fake_api.last.url.path) == ("DELETE", "/v1/teams/blue")


def test_members_add_puts_the_role_and_defaults_to_developer(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    path = "/v1/teams/blue/members/dev@example.com"
    fake_api.on(
        "PUT",
        path,
        lambda request: httpx.Response(
            200, json={"user": "dev@example.com", "role": json.loads(request.content)["role"]}
        ),
    )
    result = run("teams:members:add", "dev@example.com", "--team", "blue")
    assert result.exit_code == 0, result.output
    assert fake_api.last_json() == {"role": "developer"}
    assert "dev@example.com is a developer of team blue" in result.stdout
    changed = run("teams:members:add", "dev@example.com", "--team", "blue", "--role", "viewer")
    assert changed.exit_code == 0 and fake_api.last_json() == {"role": "viewer"}


def test_members_add_refuses_an_unknown_role_or_a_missing_team_locally(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    bad_role = run("teams:members:add", "dev@example.com", "--team", "blue", "--role", "god")
    assert bad_role.exit_code == 2 and "viewer" in bad_role.output
    no_team = run("teams:members:add", "dev@example.com")
    assert no_team.exit_code == 2 and "--team" in no_team.output
    bad_user = run("teams:members:add", "dev@example.com/../x", "--team", "blue")
    assert bad_user.exit_code == 2 and "is not valid" in bad_user.stderr
    assert fake_api.requests == []


def test_members_remove_deletes_the_membership(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    path = "/v1/teams/blue/members/dev@example.com"
    fake_api.on("DELETE", path, lambda _: httpx.Response(204))
    result = run("teams:members:remove", "dev@example.com", "--team", "blue")
    assert result.exit_code == 0, result.output
    assert fake_api.last.url.path == path
    assert "removed dev@example.com from team blue" in result.stdout


def test_a_refusal_names_the_role_needed(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    message = (
        "you are a developer of team 'blue': managing a team's members needs the owner role; "
        "ask an owner of the team (`xae teams:info blue` lists them)"
    )
    fake_api.json(
        "PUT",
        "/v1/teams/blue/members/view@example.com",
        {"error": {"code": "forbidden", "message": message, "details": {}}},
        status=403,
    )
    result = run("teams:members:add", "view@example.com", "--team", "blue", "--role", "viewer")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {message} (forbidden)"


USER: dict[str, Any] = {
    "name": "dev@example.com",
    "is_admin": False,
    "created_at": "2026-01-02T03:04:05Z",
}


def test_users_lists_names_and_admins(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("GET", "/v1/users", [{**USER, "name": "admin", "is_admin": True}, USER])
    result = run("users")
    assert result.exit_code == 0, result.output
    assert rows(result.stdout)[1:] == [
        ["admin", "yes", "2026-01-02", "03:04:05"],
        ["dev@example.com", "no", "2026-01-02", "03:04:05"],
    ]


def test_users_create_prints_the_generated_password_once_with_what_to_do_if_lost(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("POST", "/v1/users", {**USER, "password": "Gen3rated-pw"}, status=201)
    result = run("users:create", "dev@example.com")
    assert result.exit_code == 0, result.output
    assert fake_api.last_json() == {"name": "dev@example.com", "admin": False}
    assert "password for 'dev@example.com': Gen3rated-pw" in result.stdout
    assert result.stdout.count("Gen3rated-pw") == 1
    assert "xae-admin reset-password dev@example.com" in result.stdout
    assert "teams:members:add dev@example.com" in result.stdout


def test_users_create_reads_a_password_from_stdin_and_never_prints_it(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("POST", "/v1/users", {**USER, "is_admin": True, "password": None}, status=201)
    result = run(
        "users:create", "ops@example.com", "--admin", "--password-stdin", input="s3cret-pw!\n"
    )
    assert result.exit_code == 0, result.output
    assert fake_api.last_json() == {
        "name": "ops@example.com",
        "admin": True,
        "password": "s3cret-pw!",
    }
    assert "s3cret-pw!" not in result.output
    short = run("users:create", "ops@example.com", "--password-stdin", input="short\n")
    assert short.exit_code == 2 and "8 to 1024" in short.stderr and "short" not in short.output


def test_users_remove_needs_the_address_again(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.on("DELETE", "/v1/users/dev@example.com", lambda _: httpx.Response(204))
    assert run("users:remove", "dev@example.com").exit_code == 2
    assert run("users:remove", "dev@example.com", "--confirm", "ops@example.com").exit_code == 1
    assert fake_api.requests == []
    result = run("users:remove", "dev@example.com", "--confirm", "dev@example.com")
    assert result.exit_code == 0, result.output
    assert "removed dev@example.com" in result.stdout


def test_users_as_a_non_admin_prints_the_apis_reason(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    message = "managing users needs a platform admin: ask one to run `xae users:create`"
    fake_api.json("GET", "/v1/users", {"error": {"code": "forbidden", "message": message}}, 403)
    result = run("users")
    assert result.exit_code == 1
    assert f"error: {message} (forbidden)" in result.stderr
