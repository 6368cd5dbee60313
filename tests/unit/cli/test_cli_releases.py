"""`xae releases`, `releases:info`, `rollback`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.unit.cli.cli_fakes import FakeApi
from typer.testing import Result


def _release(
    version: int, status: str = "succeeded", description: str = "Deploy"
) -> dict[str, Any]:
    return {
        "version": version,
        "description": description,
        "status": status,
        "build_id": version,
        "image": f"xae/shop:{version}",
        "created_at": "2024-05-01T10:00:00Z",
        "created_by": "ada",
        "config_keys": ["DEBUG"],
    }


def test_releases_newest_first_with_current_marked(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json(
        "GET", "/v1/apps/shop/releases", [_release(1), _release(3, "failed"), _release(2)]
    )
    fake_api.json("GET", "/v1/apps/shop", {"name": "shop", "release": 2})
    result = run("releases", "-a", "shop")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert rows[0][:2] == ["v3", "failed"]
    assert rows[1][:3] == ["*", "v2", "succeeded"]
    assert rows[2][0] == "v1"


def test_releases_info_accepts_v_prefix(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("GET", "/v1/apps/shop/releases/3", _release(3))
    for arg in ("v3", "3"):
        result = run("releases:info", arg, "-a", "shop")
        assert result.exit_code == 0
        assert "xae/shop:3" in result.stdout
    assert json.loads(run("releases:info", "v3", "-a", "shop", "--json").stdout) == _release(3)


def test_releases_info_rejects_a_bad_version(logged_in: Path, run: Callable[..., Result]) -> None:
    result = run("releases:info", "latest", "-a", "shop")
    assert result.exit_code == 2
    assert "v3 or 3" in result.stderr


def test_rollback_to_a_version(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("POST", "/v1/apps/shop/rollback", _release(5, description="Rollback to v2"))
    result = run("rollback", "v2", "-a", "shop")
    assert result.exit_code == 0
    assert fake_api.last_json() == {"version": 2}
    assert "rolled back shop to v2 as v5" in result.stdout


def test_rollback_to_previous_sends_null(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("POST", "/v1/apps/shop/rollback", _release(5, description="Rollback to v4"))
    result = run("rollback", "-a", "shop")
    assert result.exit_code == 0
    assert fake_api.last_json() == {"version": None}
    assert "to v4 as v5" in result.stdout
