"""`xae apps*`: request shapes, tables, `--json`, and the destroy confirmation."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.unit.cli.cli_fakes import FakeApi
from typer.testing import Result

APP: dict[str, Any] = {
    "name": "shop",
    "url": "http://shop.localhost:8080",
    "team": "blue",
    "created_at": "2024-05-01T10:00:00.123456+00:00",
    "release": 2,
}
INFO: dict[str, Any] = {
    **APP,
    "formation": [
        {"type": "web", "quantity": 3, "memory": "512M", "cpus": 1.0, "command": "python app.py"}
    ],
    "instances": [
        {
            "name": "shop-web-1",
            "type": "web",
            "release": 2,
            "state": "running",
            "healthy": True,
            "address": "172.18.0.5:5000",
            "started_at": "2024-05-01T10:01:00Z",
            "memory": "512M",
            "cpus": 1.0,
        }
    ],
    "health": {"path": "/up", "timeout": 2.0, "attempts": 60, "drain_seconds": 10.0},
}


def test_apps_lists_a_table_and_raw_json(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("GET", "/v1/apps", [APP])
    result = run("apps")
    assert result.exit_code == 0
    header, row = (line.split() for line in result.stdout.splitlines()[:2])
    assert header == ["name", "team", "release", "url", "created"]
    assert row == ["shop", "blue", "v2", "http://shop.localhost:8080", "2024-05-01", "10:00:00"]
    assert json.loads(run("apps", "--json").stdout) == [APP]


def test_apps_create_posts_the_name(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("POST", "/v1/apps", {**APP, "release": None}, status=201)
    result = run("apps:create", "shop")
    assert result.exit_code == 0
    assert fake_api.last_json() == {"name": "shop"}
    assert "team" not in fake_api.last.url.params
    assert "created shop in team blue" in result.stdout


def test_apps_create_in_a_team_passes_it_as_the_query(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("POST", "/v1/apps", {**APP, "release": None}, status=201)
    result = run("apps:create", "shop", "--team", "blue")
    assert result.exit_code == 0, result.output
    assert fake_api.last.url.params["team"] == "blue"
    assert fake_api.last_json() == {"name": "shop"}


def test_apps_create_without_a_team_shows_the_apis_reason(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    message = "you are in 2 teams (blue, red): say which one with --team TEAM"
    fake_api.json(
        "POST", "/v1/apps", {"error": {"code": "invalid_input", "message": message}}, status=422
    )
    result = run("apps:create", "shop")
    assert result.exit_code == 1
    assert f"error: {message} (invalid_input)" in result.stderr


def test_apps_create_refuses_a_bad_team_name_locally(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    result = run("apps:create", "shop", "--team", "Blue/../x")
    assert result.exit_code == 2
    assert "team name" in result.stderr
    assert fake_api.requests == []


def test_apps_transfer_moves_the_app_to_the_team(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("POST", "/v1/apps/shop/transfer", {**APP, "team": "red"})
    result = run("apps:transfer", "shop", "--team", "red")
    assert result.exit_code == 0, result.output
    assert fake_api.last.url.params["team"] == "red"
    assert "moved shop to team red" in result.stdout
    missing = run("apps:transfer", "shop")
    assert missing.exit_code == 2 and "--team" in missing.stderr


def test_apps_info_shows_health_formation_and_instances(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("GET", "/v1/apps/shop", INFO)
    result = run("apps:info", "--app", "shop")
    assert result.exit_code == 0, result.output
    assert "GET /up timeout 2.0s, 60 attempts, drain 10.0s" in result.stdout
    assert "web: 3 × (512M, 1.0 cpu) python app.py" in result.stdout
    assert "shop-web-1" in result.stdout and "172.18.0.5:5000" in result.stdout


def test_destroy_refuses_a_mismatched_confirmation_locally(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    result = run("apps:destroy", "shop", "--confirm", "shpo")
    assert result.exit_code == 1
    assert "does not match" in result.stderr
    assert fake_api.requests == []


def test_destroy_without_confirm_and_without_a_tty_is_refused(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    result = run("apps:destroy", "shop")
    assert result.exit_code == 2
    assert "--confirm shop" in result.stderr
    assert fake_api.requests == []


def test_destroy_sends_the_confirmation(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.on("DELETE", "/v1/apps/shop", httpx.Response(204))
    result = run("apps:destroy", "shop", "--confirm", "shop")
    assert result.exit_code == 0
    assert fake_api.last.method == "DELETE"
    assert fake_api.last.url.params["confirm"] == "shop"


def test_update_patches_only_given_fields(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("PATCH", "/v1/apps/shop", INFO)
    result = run("apps:update", "-a", "shop", "--health-path", "/up", "--drain-seconds", "5")
    assert result.exit_code == 0, result.output
    assert fake_api.last_json() == {"health_path": "/up", "drain_seconds": 5.0}


def test_update_with_nothing_to_change_is_a_usage_error(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    assert run("apps:update", "-a", "shop").exit_code == 2
    assert fake_api.requests == []


def test_app_comes_from_xae_app(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAE_APP", "shop")
    fake_api.json("GET", "/v1/apps/shop", INFO)
    assert run("apps:info").exit_code == 0
    assert fake_api.last.url.path == "/v1/apps/shop"
