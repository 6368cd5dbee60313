"""Listings follow the API's paging (`X-Next-Cursor`) to the end, a bounded number of pages;
checked on canned pages and on the real API (on fakes) with tiny pages, and the real API's
403s reach the user as it wrote them."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.exceptions import StarletteDeprecationWarning
from tests.unit.cli.cli_fakes import FakeApi
from tests.unit.fakes import World
from typer.testing import CliRunner, Result

from xae.api.app import create_app
from xae.cli import client as cli_client
from xae.cli.client import Session
from xae.cli.main import app as cli

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def paged(items: list[str], size: int) -> Callable[[httpx.Request], httpx.Response]:
    """A list endpoint answering `size` items a page, with a cursor while more follow."""

    def handle(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("cursor") or 0)
        page = [{"name": n, "team": "blue"} for n in items[start : start + size]]
        more = start + size < len(items)
        headers = {"X-Next-Cursor": str(start + size)} if more else {}
        return httpx.Response(200, json=page, headers=headers)

    return handle


@pytest.mark.parametrize(
    ("command", "path"),
    [
        (["apps"], "/v1/apps"),
        (["teams"], "/v1/teams"),
        (["users"], "/v1/users"),
        (["tokens"], "/v1/tokens"),
        (["releases", "--app", "shop"], "/v1/apps/shop/releases"),
    ],
)
def test_listings_fetch_every_page(
    command: list[str],
    path: str,
    logged_in: Path,
    fake_api: FakeApi,
    run: Callable[..., Result],
) -> None:
    names = [f"a{i:02d}" for i in range(7)]
    fake_api.on("GET", path, paged(names, 3))
    fake_api.json("GET", "/v1/apps/shop", {"name": "shop", "release": None})
    result = run(*command, "--json")
    assert result.exit_code == 0, result.output
    assert [item["name"] for item in json.loads(result.stdout)] == names
    pages = [r for r in fake_api.requests if r.url.path == path]
    assert [r.url.params.get("cursor") for r in pages] == [None, "3", "6"]


def test_a_listing_that_never_ends_stops_after_the_page_bound(
    logged_in: Path,
    fake_api: FakeApi,
    run: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli_client, "MAX_PAGES", 4)
    fake_api.on("GET", "/v1/apps", httpx.Response(200, json=[], headers={"X-Next-Cursor": "again"}))
    result = run("apps")
    assert result.exit_code == 1
    assert "still had more after 4 pages" in result.stderr
    assert len(fake_api.requests) == 4


# -- the CLI against the real API (on the fake runtime) ------------------------------------


@pytest.fixture
def api(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.platform), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def as_user(
    api: TestClient, world: World, config_home: Path
) -> Callable[..., Callable[..., Result]]:
    """`as_user("alice")` runs `xae ...` as alice against the API on fakes."""

    def forward(request: httpx.Request) -> httpx.Response:
        answer = api.request(
            request.method,
            str(request.url.copy_with(scheme=None, host=None, port=None)),
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            content=request.content,
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    def login(user: str) -> Callable[..., Result]:
        token = world.token(user)

        def invoke(*args: str, input: str | None = None) -> Result:
            env = {"XAE_API_URL": "http://testserver", "XAE_TOKEN": token}
            session = Session(transport=httpx.MockTransport(forward))
            return CliRunner().invoke(cli, list(args), obj=session, input=input, env=env)

        return invoke

    return login


def test_every_app_is_listed_across_pages_of_the_real_api(
    as_user: Callable[..., Callable[..., Result]], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = as_user("alice")
    names = [f"app-{i}" for i in range(5)]
    for name in names:
        assert alice("apps:create", name).exit_code == 0
    monkeypatch.setattr(cli_client, "PAGE_SIZE", 2)
    listed = alice("apps", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(a["name"], a["team"]) for a in json.loads(listed.stdout)] == [
        (n, "alice") for n in names
    ]


def test_a_viewer_is_told_which_role_a_change_needs_and_nothing_changes(
    as_user: Callable[..., Callable[..., Result]],
) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    assert alice("apps:create", "shop").exit_code == 0
    assert alice("config:set", "SECRET=v1", "--app", "shop").exit_code == 0
    added = alice("teams:members:add", "bob", "--team", "alice", "--role", "viewer")
    assert added.exit_code == 0, added.output
    assert "bob is a viewer of team alice" in added.stdout

    refused = bob("config:set", "SECRET=v2", "--app", "shop")
    assert refused.exit_code == 1
    assert "you are a viewer of team 'alice'" in refused.stderr
    assert "needs the developer role" in refused.stderr and "(forbidden)" in refused.stderr
    assert alice("config:get", "SECRET", "--app", "shop").stdout.strip() == "v1"

    teams = bob("teams", "--json")
    assert [(t["name"], t["role"]) for t in json.loads(teams.stdout)] == [
        ("alice", "viewer"),
        ("bob", "owner"),
    ]
    assert alice("teams:members:remove", "bob", "--team", "alice").exit_code == 0
    gone = bob("apps:info", "shop")
    assert gone.exit_code == 1 and "(not_found)" in gone.stderr
