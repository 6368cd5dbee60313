"""`xae ps*` and `xae logs`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
from tests.unit.cli.cli_fakes import FakeApi
from typer.testing import Result

WEB = {"type": "web", "quantity": 3, "memory": "512M", "cpus": 1.0, "command": "python app.py"}


def test_ps_shows_formation_and_instances(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("GET", "/v1/apps/shop/formation", [WEB])
    fake_api.json(
        "GET",
        "/v1/apps/shop/instances",
        [
            {
                "name": "shop-web-1",
                "type": "web",
                "release": 2,
                "state": "starting",
                "healthy": None,
                "address": None,
                "started_at": None,
                "memory": "512M",
                "cpus": 1.0,
            }
        ],
    )
    result = run("ps", "-a", "shop")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("web: 3 × (512M, 1.0 cpu) python app.py\n")
    assert "shop-web-1" in result.stdout and "starting" in result.stdout
    data = json.loads(run("ps", "-a", "shop", "--json").stdout)
    assert data["formation"] == [WEB]


def test_ps_scale_sends_updates(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("PATCH", "/v1/apps/shop/formation", [WEB])
    result = run("ps:scale", "web=3", "worker=0", "-a", "shop")
    assert result.exit_code == 0, result.output
    assert fake_api.last_json() == {
        "updates": [{"type": "web", "quantity": 3}, {"type": "worker", "quantity": 0}]
    }


def test_ps_scale_validates_locally(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    for bad in ("web", "web=-1", "web=two", "Web=1", "web=1.5"):
        result = run("ps:scale", bad, "-a", "shop")
        assert result.exit_code == 2, bad
    assert fake_api.requests == []


def test_ps_resize_and_restart(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("PATCH", "/v1/apps/shop/formation", [WEB])
    assert run("ps:resize", "web", "--memory", "256M", "--cpus", "0.5", "-a", "shop").exit_code == 0
    assert fake_api.last_json() == {"updates": [{"type": "web", "memory": "256M", "cpus": 0.5}]}
    assert run("ps:resize", "web", "--read-only", "-a", "shop").exit_code == 0
    assert fake_api.last_json() == {"updates": [{"type": "web", "read_only": True}]}
    assert run("ps:resize", "web", "--no-read-only", "-a", "shop").exit_code == 0
    assert fake_api.last_json() == {"updates": [{"type": "web", "read_only": False}]}
    fake_api.on("POST", "/v1/apps/shop/restart", httpx.Response(202, json={}))
    assert run("ps:restart", "-a", "shop").exit_code == 0
    assert fake_api.last_json() == {"type": None}
    assert run("ps:restart", "worker", "-a", "shop").exit_code == 0
    assert fake_api.last_json() == {"type": "worker"}


def test_logs_streams_lines_with_query(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.on(
        "GET",
        "/v1/apps/shop/logs",
        httpx.Response(200, content=b"web.1 | [red]hello\nweb.1 | bye\n"),
    )
    result = run("logs", "-f", "--ps", "web", "-n", "10", "-a", "shop")
    assert result.exit_code == 0
    assert result.stdout == "web.1 | [red]hello\nweb.1 | bye\n"
    params = fake_api.last.url.params
    assert (params["follow"], params["process"], params["tail"]) == ("true", "web", "10")


def test_logs_ctrl_c_exits_quietly(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    def interrupted(request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    fake_api.on("GET", "/v1/apps/shop/logs", interrupted)
    result = run("logs", "-a", "shop")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_ps_shows_a_read_only_process_type(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("GET", "/v1/apps/shop/formation", [{**WEB, "read_only": True}])
    fake_api.json("GET", "/v1/apps/shop/instances", [])
    result = run("ps", "-a", "shop")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("web: 3 × (512M, 1.0 cpu, read-only) python app.py\n")


def test_ps_resize_without_a_change_is_a_usage_error(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    result = run("ps:resize", "web", "-a", "shop")
    assert result.exit_code == 2
    assert "--read-only" in result.output
    assert fake_api.requests == []
