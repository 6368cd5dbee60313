"""How API failures reach the user: message, code, log tail, and exit code 1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from tests.unit.cli.cli_fakes import FakeApi
from typer.testing import Result


def test_api_error_shows_message_code_and_log_tail(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json(
        "GET",
        "/v1/apps/shop",
        {
            "error": {
                "code": "not_found",
                "message": "app 'shop' not found",
                "details": {"log_tail": ["line one", "line two"]},
            }
        },
        status=404,
    )
    result = run("apps:info", "shop")
    assert result.exit_code == 1
    assert "error: app 'shop' not found (not_found)" in result.stderr
    assert "  line one\n  line two" in result.stderr
    assert result.stdout == ""


def test_401_says_to_log_in(logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]) -> None:
    fake_api.json(
        "GET", "/v1/apps", {"error": {"code": "unauthorized", "message": "bad token"}}, 401
    )
    result = run("apps")
    assert result.exit_code == 1
    assert "not logged in or token expired: run `xae login`" in result.stderr


def test_connection_refused_says_how_to_start_the_api(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    fake_api.on("GET", "/v1/apps", refuse)
    result = run("apps")
    assert result.exit_code == 1
    assert "cannot reach the xae API at http://xae.test; is it running? try `make up`" in (
        result.stderr
    )


def test_non_json_error_body_is_shown_cut_short(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.on("GET", "/v1/apps", httpx.Response(502, text="Bad Gateway" + "x" * 1000))
    result = run("apps")
    assert result.exit_code == 1
    assert "error: Bad Gateway" in result.stderr
    assert "(http_502)" in result.stderr
    assert "x" * 400 not in result.stderr


def test_bearer_token_is_sent(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("GET", "/v1/apps", [])
    assert run("apps").exit_code == 0
    assert fake_api.last.headers["Authorization"] == "Bearer tok-123"
    assert str(fake_api.last.url).startswith("http://xae.test/v1/apps")


def test_missing_app_is_a_usage_error(logged_in: Path, run: Callable[..., Result]) -> None:
    result = run("releases")
    assert result.exit_code == 2
    assert "pass --app" in result.stderr


def test_invalid_app_name_is_refused_before_any_request(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    result = run("releases", "--app", "../etc")
    assert result.exit_code == 2
    assert "not valid" in result.stderr
    assert fake_api.requests == []
