"""`xae login/logout/whoami` and the client config file."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.unit.cli.cli_fakes import FakeApi
from typer.testing import Result

from xae.cli import config


def test_login_stores_token_with_mode_0600(
    config_home: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("POST", "/v1/auth/tokens", {"token": "t-1", "expires_at": "2030-01-01T00:00:00Z"})
    result = run("login", "--api-url", "http://api.test/", "--username", "ada", "--password", "pw")
    assert result.exit_code == 0, result.output
    assert fake_api.last_json() == {"username": "ada", "password": "pw"}
    assert "Authorization" not in fake_api.last.headers
    assert "logged in as ada" in result.stdout
    path = config_home / "xae" / "config.json"
    assert json.loads(path.read_text()) == {"api_url": "http://api.test", "token": "t-1"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "pw" not in result.output


def test_login_prompts_for_missing_credentials(
    config_home: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("POST", "/v1/auth/tokens", {"token": "t-2", "expires_at": None})
    result = run("login", input="ada\nsecret\n")
    assert result.exit_code == 0, result.output
    assert fake_api.last_json() == {"username": "ada", "password": "secret"}
    assert str(fake_api.last.url) == f"{config.DEFAULT_API_URL}/v1/auth/tokens"
    assert "secret" not in result.output


def test_login_with_wrong_password_says_so(
    config_home: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json(
        "POST",
        "/v1/auth/tokens",
        {"error": {"code": "unauthorized", "message": "wrong username or password"}},
        401,
    )
    result = run("login", "-u", "ada", "-p", "nope")
    assert result.exit_code == 1
    assert "login failed: wrong username or password" in result.stderr
    assert not (config_home / "xae" / "config.json").exists()


def test_logout_removes_only_the_token(logged_in: Path, run: Callable[..., Result]) -> None:
    result = run("logout")
    assert result.exit_code == 0
    assert json.loads(logged_in.read_text()) == {"api_url": "http://xae.test"}
    assert stat.S_IMODE(logged_in.stat().st_mode) == 0o600


def test_environment_overrides_the_file(logged_in: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XAE_API_URL", "http://other.test")
    monkeypatch.setenv("XAE_TOKEN", "env-token")
    assert config.load() == config.ClientConfig("http://other.test", "env-token")
    assert config.load_stored() == config.ClientConfig("http://xae.test", "tok-123")


def test_whoami(logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]) -> None:
    fake_api.json("GET", "/v1/auth/whoami", {"username": "ada", "is_admin": True})
    result = run("whoami")
    assert result.exit_code == 0
    assert result.stdout.split() == ["user:", "ada", "admin:", "yes", "teams:", "-"]
    assert json.loads(run("whoami", "--json").stdout) == {"username": "ada", "is_admin": True}


def test_whoami_shows_each_team_with_the_role_and_the_tokens_limits(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json(
        "GET",
        "/v1/auth/whoami",
        {
            "username": "dev@example.com",
            "is_admin": False,
            "teams": [{"team": "blue", "role": "developer"}, {"team": "red", "role": "viewer"}],
            "token": {
                "name": "ci-shop",
                "scope": "deploy",
                "app": "shop",
                "expires_at": "2030-01-02T03:04:05.678+00:00",
            },
        },
    )
    result = run("whoami")
    assert result.exit_code == 0, result.output
    lines = {
        line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in result.stdout.splitlines()
    }
    assert lines == {
        "user": "dev@example.com",
        "admin": "no",
        "teams": "blue (developer), red (viewer)",
        "token": "ci-shop",
        "scope": "deploy",
        "app": "shop",
        "expires": "2030-01-02 03:04:05",
    }


def test_login_prompts_for_an_email_address(
    config_home: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("POST", "/v1/auth/tokens", {"token": "t-3", "expires_at": None})
    result = run("login", input="dev@example.com\nsecret\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Email: ")
    assert fake_api.last_json() == {"username": "dev@example.com", "password": "secret"}
    assert "logged in as dev@example.com" in result.stdout
    run("login", "--email", "ops@example.com", "-p", "pw")
    assert fake_api.last_json() == {"username": "ops@example.com", "password": "pw"}


def test_status_exits_1_and_prints_hints_when_unhealthy(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json(
        "GET",
        "/v1/status",
        {
            "api_url": "http://xae.test",
            "backend": "docker",
            "router": {"address": "0.0.0.0:8080", "base_domain": "localhost"},
            "components": [
                {"name": "database", "healthy": True, "detail": "sqlite", "hint": None},
                {
                    "name": "docker",
                    "healthy": False,
                    "detail": "no socket",
                    "hint": "start dockerd",
                },
            ],
        },
    )
    result = run("status")
    assert result.exit_code == 1
    assert "database" in result.stdout and "docker" in result.stdout
    assert "FAIL" in result.stdout
    assert "docker: start dockerd" in result.stderr
    assert "error: unhealthy: docker" in result.stderr
