"""`xae tokens*` and `xae audit`: tokens shown once with how to use them; one page of audit."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from tests.unit.cli.cli_fakes import FakeApi
from typer.testing import Result

TOKEN: dict[str, Any] = {
    "id": 7,
    "name": "ci-shop",
    "scope": "deploy",
    "app": "shop",
    "created_at": "2026-01-02T03:04:05Z",
    "expires_at": "2026-02-01T03:04:05Z",
    "last_used_at": None,
    "current": False,
}


def rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines() if line.strip()]


def test_tokens_lists_them_and_marks_the_one_in_use(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    login = {**TOKEN, "id": 3, "name": "login", "scope": "admin", "app": None, "current": True}
    fake_api.json("GET", "/v1/tokens", [login, TOKEN])
    result = run("tokens")
    assert result.exit_code == 0, result.output
    found = rows(result.stdout)
    assert found[0] == ["id", "name", "scope", "app", "created", "expires", "last", "used"]
    assert found[1][:5] == ["*", "3", "login", "admin", "-"]
    assert found[2][:4] == ["7", "ci-shop", "deploy", "shop"]
    assert found[2][-1] == "-"


def test_tokens_create_prints_the_secret_once_and_how_ci_uses_it(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("POST", "/v1/tokens", {**TOKEN, "token": "xae_s3cr3t"}, status=201)
    result = run("tokens:create", "ci-shop", "--app", "shop", "--expires-in-days", "7")
    assert result.exit_code == 0, result.output
    assert fake_api.last_json() == {
        "name": "ci-shop",
        "scope": "deploy",
        "app": "shop",
        "expires_in_days": 7,
    }
    assert result.stdout.count("xae_s3cr3t") == 1
    assert "CI" in result.stdout and "secret" in result.stdout
    assert "XAE_TOKEN=<the token> XAE_API_URL=http://xae.test xae deploy . --app shop" in (
        result.stdout
    )
    assert "xae tokens:revoke 7" in result.stdout


def test_tokens_create_checks_scope_and_days_locally(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    assert run("tokens:create", "x", "--scope", "root").exit_code == 2
    assert run("tokens:create", "x", "--expires-in-days", "0").exit_code == 2
    assert run("tokens:create", "x", "--app", "Not An App").exit_code == 2
    assert fake_api.requests == []
    fake_api.json("POST", "/v1/tokens", {**TOKEN, "scope": "read", "token": "t"}, status=201)
    assert run("tokens:create", "ro", "--scope", "read").exit_code == 0
    assert fake_api.last_json() == {
        "name": "ro",
        "scope": "read",
        "app": None,
        "expires_in_days": 30,
    }


def test_tokens_revoke_deletes_by_id(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.on("DELETE", "/v1/tokens/7", httpx.Response(204))
    result = run("tokens:revoke", "7")
    assert result.exit_code == 0, result.output
    assert "revoked token 7" in result.stdout
    assert run("tokens:revoke", "seven").exit_code == 2


EVENTS: list[dict[str, Any]] = [
    {
        "id": 12,
        "at": "2026-01-02T03:05:00.5Z",
        "actor": "dev@example.com",
        "token_name": "ci-shop",
        "source": "10.1.2.3",
        "action": "app.deploy",
        "target": "shop",
        "app": "shop",
        "result": "ok",
        "details": {"release": 3, "image": "x" * 200},
    },
    {
        "id": 11,
        "at": "2026-01-02T03:04:00Z",
        "actor": "view@example.com",
        "token_name": None,
        "source": None,
        "action": "config.set",
        "target": "shop",
        "app": "shop",
        "result": "failed",
        "details": {},
    },
]


def test_audit_asks_for_one_page_with_the_filters_and_shows_newest_first(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.on(
        "GET", "/v1/audit", httpx.Response(200, json=EVENTS, headers={"X-Next-Cursor": "MTE"})
    )
    result = run("audit", "--app", "shop", "--user", "dev@example.com", "--since", "7d")
    assert result.exit_code == 0, result.output
    assert len(fake_api.requests) == 1  # one page, not the whole trail
    assert dict(fake_api.last.url.params) == {
        "app": "shop",
        "user": "dev@example.com",
        "since": "7d",
        "limit": "50",
    }
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["when", "who", "from", "action", "target", "result", "details"]
    assert lines[1].split()[:8] == [
        "2026-01-02",
        "03:05:00",
        "dev@example.com",
        "(ci-shop)",
        "10.1.2.3",
        "app.deploy",
        "shop",
        "ok",
    ]
    assert "release=3" in lines[1] and "…" in lines[1] and "x" * 100 not in result.stdout
    assert lines[2].split()[2:8] == ["view@example.com", "-", "config.set", "shop", "failed", "-"]
    assert "showing the newest 2" in result.stdout


def test_audit_checks_its_filters_before_asking(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    assert run("audit", "--since", "a week").exit_code == 2
    assert run("audit", "--limit", "0").exit_code == 2
    assert run("audit", "--app", "../etc").exit_code == 2
    assert fake_api.requests == []
    fake_api.json("GET", "/v1/audit", EVENTS)
    result = run("audit", "--limit", "5", "--json")
    assert fake_api.last.url.params["limit"] == "5"
    assert json.loads(result.stdout) == EVENTS


def test_audit_refused_says_who_may_read_it(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    message = "reading the audit trail needs the owner role in a team, or a platform admin"
    fake_api.json("GET", "/v1/audit", {"error": {"code": "forbidden", "message": message}}, 403)
    result = run("audit")
    assert result.exit_code == 1 and f"error: {message} (forbidden)" in result.stderr
