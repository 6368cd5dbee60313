"""`xae domains*` and the route settings of `apps:update`: request shapes, local checks,
tables and `--json`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.unit.cli.cli_fakes import FakeApi
from tests.unit.cli.test_cli_apps import INFO
from typer.testing import Result

DOMAIN: dict[str, Any] = {
    "hostname": "www.example.com",
    "wildcard": False,
    "created_at": "2024-05-01T10:00:00Z",
    "created_by": "alice",
}


def test_domains_lists_a_table_and_raw_json(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("GET", "/v1/apps/shop/domains", [DOMAIN])
    result = run("domains", "--app", "shop")
    assert result.exit_code == 0, result.output
    assert "www.example.com" in result.stdout and "alice" in result.stdout
    assert json.loads(run("domains", "--app", "shop", "--json").stdout) == [DOMAIN]


def test_domains_add_sends_the_canonical_name(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("POST", "/v1/apps/shop/domains", DOMAIN, status=201)
    result = run("domains:add", "WWW.Example.COM.", "--app", "shop")
    assert result.exit_code == 0, result.output
    assert fake_api.last_json() == {"hostname": "www.example.com"}
    assert "served at www.example.com" in result.stdout


@pytest.mark.parametrize("name", ["www.*.example.com", "10.0.0.1", "a.com;", "a b.com"])
def test_an_invalid_domain_fails_locally_with_no_request(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result], name: str
) -> None:
    result = run("domains:add", name, "--app", "shop")
    assert result.exit_code == 2
    assert "invalid_name" in result.output
    assert fake_api.requests == []


def test_domains_remove_deletes_the_canonical_name(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.on("DELETE", "/v1/apps/shop/domains/*.example.com", httpx.Response(204))
    result = run("domains:remove", "*.EXAMPLE.com", "--app", "shop")
    assert result.exit_code == 0, result.output
    assert fake_api.last.url.path == "/v1/apps/shop/domains/*.example.com"


@pytest.mark.parametrize(
    ("args", "sent"),
    [
        (["--redirect-https"], {"redirect_https": True}),
        (["--no-redirect-https"], {"redirect_https": False}),
        (["--max-body", "50M"], {"max_body": 50 * 1024**2}),
        (["--max-body", "512k"], {"max_body": 512 * 1024}),
        (["--max-body", "1G"], {"max_body": 1024**3}),
        (["--max-body", "default"], {"max_body": None}),
        (["--read-timeout", "120"], {"read_timeout": 120}),
        (["--read-timeout", "0"], {"read_timeout": None}),
        (["--scale-from-zero"], {"scale_from_zero": True}),
        (["--no-scale-from-zero"], {"scale_from_zero": False}),
    ],
)
def test_apps_update_sends_route_settings(
    logged_in: Path,
    fake_api: FakeApi,
    run: Callable[..., Result],
    args: list[str],
    sent: dict[str, Any],
) -> None:
    fake_api.json("PATCH", "/v1/apps/shop", INFO)
    result = run("apps:update", *args, "--app", "shop")
    assert result.exit_code == 0, result.output
    assert fake_api.last_json() == sent


@pytest.mark.parametrize("size", ["2G", "0", "50 apples", "-1M", "1T"])
def test_a_body_size_out_of_range_fails_locally(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result], size: str
) -> None:
    result = run("apps:update", "--max-body", size, "--app", "shop")
    assert result.exit_code == 2, result.output
    assert fake_api.requests == []


def test_apps_info_shows_domains_and_route_settings(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    info = {
        **INFO,
        "domains": ["www.example.com", "*.example.org"],
        "routing": {
            "redirect_https": True,
            "max_body": 50 * 1024**2,
            "read_timeout": None,
            "scale_from_zero": False,
        },
    }
    fake_api.json("GET", "/v1/apps/shop", info)
    out = run("apps:info", "shop").stdout
    assert "www.example.com, *.example.org" in out
    lines = {
        line.split(":")[0].strip(): line.split(":", 1)[1].strip()
        for line in out.splitlines()
        if ":" in line
    }
    assert lines["redirect https"] == "yes"
    assert lines["max body"] == "50M"
    assert lines["read timeout"] == "default"
    assert lines["scale from zero"] == "no"
