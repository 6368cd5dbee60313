"""`AppAccess` guards (`xae.api.guards`): every route on an app looks it up and authorizes it
once, in one place.

Someone else's app answers exactly as a missing one, on every route that names an app; the
handler gets the loaded row, usable after its session closed; a read looks the app up once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import APIRouter
from sqlalchemy import event, inspect
from tests.unit.fakes import World, deploy

from xae.api.guards import AppRead as AppDep
from xae.auth.policy import app_not_found

if TYPE_CHECKING:
    from starlette.testclient import TestClient

ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "", {}),
    ("PATCH", "", {"json": {"health_path": "/up"}}),
    ("DELETE", "?confirm=shop", {}),
    ("GET", "/formation", {}),
    ("PATCH", "/formation", {"json": {"updates": [{"type": "web", "quantity": 0}]}}),
    ("POST", "/restart", {"json": {}}),
    ("GET", "/instances", {}),
    ("GET", "/releases", {}),
    ("GET", "/releases/v1", {}),
    ("POST", "/rollback", {"json": {}}),
    ("GET", "/config", {}),
    ("PATCH", "/config", {"json": {"A": "1"}}),
    ("GET", "/logs", {}),
    ("POST", "/deploys", {"content": b"not a tarball"}),
    ("POST", "/deploys/image", {"json": {"image": "nginx:1.27"}}),
    ("POST", "/transfer?team=bob", {}),
    ("GET", "/certs", {}),
    ("POST", "/certs", {"json": {"chain": "not pem", "key": "not pem"}}),
    ("DELETE", "/certs/1", {}),
    ("POST", "/certs/auto", {"json": {}}),
    ("GET", "/domains", {}),
    ("POST", "/domains", {"json": {"hostname": "www.example.com"}}),
    ("DELETE", "/domains/{domain}", {}),  # sent as is: the guard answers before the name counts
    ("GET", "/routes", {}),
    ("PUT", "/split", {"json": {"releases": [{"version": 1, "weight": 100}]}}),
    ("DELETE", "/split", {}),
    ("GET", "/builds", {}),
    ("GET", "/builds/{build_id}", {}),  # sent as is: the guard answers before the id counts
    ("GET", "/builds/{build_id}/log", {}),
    ("POST", "/builds/{build_id}/cancel", {}),
    ("GET", "/hooks", {}),
    ("POST", "/hooks", {"json": {"url": "https://1.1.1.1/x"}}),
    ("DELETE", "/hooks/1", {}),
    ("GET", "/hooks/deliveries", {}),
    ("GET", "/git", {}),
    ("PUT", "/git/branch", {"json": {"branch": "release"}}),
    ("GET", "/cron", {}),
    ("POST", "/cron", {"json": {"name": "nightly", "schedule": "0 2 * * *", "command": "true"}}),
    ("DELETE", "/cron/{job}", {}),  # sent as is: the guard answers before the name counts
    ("POST", "/cron/{job}/runs", {}),
    ("GET", "/cron-runs", {}),
    ("GET", "/cron-runs/{run_id}", {}),
    ("POST", "/gc", {}),
    ("GET", "/previews", {}),
    ("PATCH", "/previews", {"json": {"enabled": True}}),
    ("POST", "/previews", {"json": {"branch": "feature-x"}}),
    ("DELETE", "/previews?branch=feature-x", {}),
]


@pytest.mark.parametrize(("method", "suffix", "kwargs"), ROUTES)
def test_someone_elses_app_answers_exactly_as_a_missing_one_and_is_left_alone(
    world: World, client: TestClient, shop: str, method: str, suffix: str, kwargs: dict[str, Any]
) -> None:
    deploy(world.platform, shop, "img:1")
    bob = {"Authorization": f"Bearer {world.token('bob')}"}
    before = [client.get(f"/v1/apps/{shop}{s}").json() for s in ("", "/config", "/releases")]

    others = client.request(method, f"/v1/apps/{shop}{suffix}", headers=bob, **kwargs)
    missing = client.request(
        method, f"/v1/apps/nope{suffix.replace(shop, 'nope')}", headers=bob, **kwargs
    )

    assert others.status_code == missing.status_code == 404
    assert others.json() == {
        "error": {"code": "not_found", "message": app_not_found(shop).message, "details": {}}
    }
    assert missing.json() == {
        "error": {"code": "not_found", "message": app_not_found("nope").message, "details": {}}
    }
    assert others.headers.keys() == missing.headers.keys()
    after = [client.get(f"/v1/apps/{shop}{s}").json() for s in ("", "/config", "/releases")]
    assert after == before  # alice's app, untouched


def test_every_route_that_names_an_app_takes_it_from_the_dependency(client: TestClient) -> None:
    paths = {
        (method.upper(), path)
        for path, operations in client.get("/openapi.json").json()["paths"].items()
        for method in operations
        if "{name}" in path
    }
    templates = {
        (
            method,
            "/v1/apps/{name}"
            + suffix.split("?")[0]
            .replace("/v1", "/{version}")
            .replace("/hooks/1", "/hooks/{hook_id}")
            .replace("/1", "/{cert_id}"),
        )
        for method, suffix, _ in ROUTES
    }
    assert paths == templates


@pytest.fixture
def probe(client: TestClient) -> TestClient:
    """A route that returns what the handler received from `AppDep`."""
    router = APIRouter()

    @router.get("/probe/{name}")
    def received(app: AppDep) -> dict[str, Any]:
        release = app.current_release
        return {
            "detached": inspect(app).detached,
            "name": app.name,
            "team": app.team.name,
            "release": release.version if release else None,
            "config": app.config_keys,
        }

    client.app.include_router(router)  # type: ignore[attr-defined]
    return client


def test_the_handler_receives_the_loaded_app_detached_with_its_owner_and_release(
    world: World, probe: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    probe.patch(f"/v1/apps/{shop}/config", json={"GREETING": "hi"})

    response = probe.get(f"/probe/{shop}")

    assert response.status_code == 200
    assert response.json() == {
        "detached": True,
        "name": shop,
        "team": "alice",
        "release": 2,
        "config": ["GREETING"],
    }


def test_an_admin_receives_any_users_app(world: World, probe: TestClient, shop: str) -> None:
    root = {"Authorization": f"Bearer {world.token('root')}"}
    assert probe.get(f"/probe/{shop}", headers=root).json()["team"] == "alice"


@pytest.fixture
def app_lookups(world: World) -> Iterator[list[str]]:
    """The SQL statements that look an app up by name, as they run."""
    seen: list[str] = []

    def watch(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if re.search(r"FROM apps\s+WHERE apps\.name = ", statement):
            seen.append(statement)

    event.listen(world.db.engine, "before_cursor_execute", watch)
    yield seen
    event.remove(world.db.engine, "before_cursor_execute", watch)


@pytest.mark.parametrize(
    "suffix", ["", "/config", "/formation", "/instances", "/releases", "/releases/v1", "/logs"]
)
def test_a_read_looks_the_app_up_once(
    world: World, client: TestClient, shop: str, app_lookups: list[str], suffix: str
) -> None:
    deploy(world.platform, shop, "img:1")
    app_lookups.clear()

    assert client.get(f"/v1/apps/{shop}{suffix}").status_code == 200

    assert len(app_lookups) == 1


def test_a_change_authorized_for_an_app_never_lands_on_a_new_app_of_the_same_name(
    world: World, client: TestClient, shop: str
) -> None:
    """The name was destroyed and taken by another team between the check and the change."""
    from xae.control import releases
    from xae.control.apps import create_app, destroy_app, get_app

    with world.db.session() as session:
        authorized = get_app(session, shop).id
    destroy_app(world.platform, world.user("alice"), shop, confirm=shop)
    create_app(world.platform, world.user("bob"), shop)

    with pytest.raises(type(app_not_found(shop))):
        releases.set_config(
            world.platform, world.user("alice"), shop, {"A": "1"}, app_id=authorized
        )

    bob = {"Authorization": f"Bearer {world.token('bob')}"}
    assert client.get(f"/v1/apps/{shop}/config", headers=bob).json() == {}
