"""Apps over HTTP: create, list, inspect, destroy; and who may see which app."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from tests.unit.fakes import World, deploy

if TYPE_CHECKING:
    from starlette.testclient import TestClient


def test_creating_an_app_returns_201_with_its_url(client: TestClient) -> None:
    response = client.post("/v1/apps", json={"name": "shop"})
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "shop"
    assert body["url"] == "http://shop.localhost:8080/"
    assert body["team"] == "alice"
    assert body["release"] is None


def test_creating_an_app_twice_is_409_already_exists(client: TestClient, shop: str) -> None:
    response = client.post("/v1/apps", json={"name": shop})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "already_exists"
    assert "pick another name" in error["message"]


@pytest.mark.parametrize("name", ["Shop", "my.app", "../etc", "a;b", "-shop", "x" * 31])
def test_an_invalid_app_name_is_422_invalid_name(client: TestClient, name: str) -> None:
    response = client.post("/v1/apps", json={"name": name})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_name"
    assert client.get("/v1/apps").json() == []


def test_a_name_with_a_trailing_newline_is_refused_and_other_apps_can_still_be_created(
    client: TestClient,
) -> None:
    response = client.post("/v1/apps", json={"name": "shop\n"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_name"
    assert client.get("/v1/apps").json() == []
    assert client.post("/v1/apps", json={"name": "blog"}).status_code == 201


def test_a_create_without_a_name_is_422_invalid_input(client: TestClient) -> None:
    response = client.post("/v1/apps", json={})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert "name" in error["message"]


def test_the_app_list_is_sorted_by_name(client: TestClient) -> None:
    for name in ("web", "api", "blog"):
        client.post("/v1/apps", json={"name": name})
    assert [a["name"] for a in client.get("/v1/apps").json()] == ["api", "blog", "web"]


def test_users_see_only_their_own_apps_and_admins_see_all(
    world: World, client: TestClient, shop: str
) -> None:
    bob = {"Authorization": f"Bearer {world.token('bob')}"}
    root = {"Authorization": f"Bearer {world.token('root')}"}
    assert client.get("/v1/apps", headers=bob).json() == []
    assert client.get(f"/v1/apps/{shop}", headers=bob).status_code == 404
    assert (
        client.delete(f"/v1/apps/{shop}", params={"confirm": shop}, headers=bob).status_code == 404
    )
    assert [a["name"] for a in client.get("/v1/apps", headers=root).json()] == [shop]


def test_app_info_shows_formation_instances_and_health(
    world: World, client: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    response = client.get(f"/v1/apps/{shop}")
    assert response.status_code == 200
    info = response.json()
    assert info["release"] == 1
    assert info["formation"] == [
        {
            "type": "web",
            "quantity": 1,
            "memory": "512M",
            "cpus": 1.0,
            "command": "python app.py",
            "read_only": False,
        },
        {
            "type": "worker",
            "quantity": 0,
            "memory": "512M",
            "cpus": 1.0,
            "command": "python worker.py",
            "read_only": False,
        },
    ]
    [instance] = info["instances"]
    assert (instance["type"], instance["release"], instance["state"]) == ("web", 1, "running")
    assert instance["healthy"] is True
    assert instance["address"].endswith(":5000")
    assert info["health"] == {"path": "/", "timeout": 2.0, "attempts": 3, "drain_seconds": 7.5}


def test_info_on_an_unknown_app_is_404_not_found(client: TestClient) -> None:
    response = client.get("/v1/apps/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_health_settings_can_be_changed(client: TestClient, shop: str) -> None:
    response = client.patch(f"/v1/apps/{shop}", json={"health_path": "/up", "drain_seconds": 0})
    assert response.status_code == 200
    assert response.json()["health"]["path"] == "/up"
    assert response.json()["health"]["drain_seconds"] == 0


@pytest.mark.parametrize("confirm", [None, "other", "SHOP"])
def test_destroy_with_a_wrong_confirmation_is_422_and_keeps_the_app(
    world: World, client: TestClient, shop: str, confirm: str | None
) -> None:
    deploy(world.platform, shop, "img:1")
    params = {} if confirm is None else {"confirm": confirm}
    response = client.delete(f"/v1/apps/{shop}", params=params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert f"--confirm {shop}" in error["message"]
    assert client.get(f"/v1/apps/{shop}").status_code == 200
    assert len(world.runtime.of(shop)) == 1


def test_destroy_with_the_app_name_as_confirmation_is_204_and_removes_it(
    world: World, client: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    response = client.delete(f"/v1/apps/{shop}", params={"confirm": shop})
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"/v1/apps/{shop}").status_code == 404
    assert world.runtime.of(shop) == []
    assert shop not in world.router.served()


def test_status_reports_each_component(client: TestClient) -> None:
    body = client.get("/v1/status").json()
    components = {c["name"]: c for c in body["components"]}
    # The backend's component is named after it (the fake runtime here).
    assert set(components) == {"api", "fake", "store", "router", "reconciler"}
    assert components["fake"]["healthy"] is True
    assert components["store"]["healthy"] is True
    assert components["reconciler"]["healthy"] is False  # none started in this test
    assert body["backend"] == "fake"


@pytest.mark.parametrize("path", ["/a\tb", "/up\r\nX-Injected: 1", "/a b", "//host/x"])
def test_an_unsafe_health_path_is_422_and_changes_nothing(
    client: TestClient, shop: str, path: str
) -> None:
    response = client.patch(f"/v1/apps/{shop}", json={"health_path": path})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"
    assert "health check path" in response.json()["error"]["message"]
    assert client.get(f"/v1/apps/{shop}").json()["health"]["path"] == "/"


def test_a_health_check_that_could_take_hours_is_422_naming_the_bound(
    client: TestClient, shop: str
) -> None:
    response = client.patch(
        f"/v1/apps/{shop}", json={"health_timeout": 60, "health_attempts": 1000}
    )
    assert response.status_code == 422
    assert "at most 600 s" in response.json()["error"]["message"]


def test_lists_are_paged_with_a_cursor_that_walks_every_item_once(
    world: World, client: TestClient
) -> None:
    for i in range(5):
        assert client.post("/v1/apps", json={"name": f"app-{i}"}).status_code == 201
    deploy(world.platform, "app-0", "img:1")
    for value in ("a", "b", "c"):
        client.patch("/v1/apps/app-0/config", json={"K": value})

    for path, key in (("/v1/apps", "name"), ("/v1/apps/app-0/releases", "version")):
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            response = client.get(path, params=params)
            assert response.status_code == 200
            seen += [item[key] for item in response.json()]
            pages += 1
            cursor = response.headers.get("X-Next-Cursor")
            if cursor is None:
                break
            assert 'rel="next"' in response.headers["Link"]
        full = [item[key] for item in client.get(path).json()]
        assert seen == full and len(full) >= 4 and pages == (len(full) + 1) // 2

    refused = client.get("/v1/apps", params={"cursor": "!!not-ours!!"})
    assert refused.status_code == 422
    assert client.get("/v1/apps", params={"limit": 501}).status_code == 422


@pytest.mark.parametrize(
    "path", ["/v1/apps", "/v1/teams", "/v1/tokens", "/v1/audit", "/v1/apps/shop/releases"]
)
@pytest.mark.parametrize("cursor", ["!!", "bm90LWEtbnVtYmVy", "LTE", "'; DROP TABLE apps;--"])
def test_a_cursor_the_api_did_not_give_is_refused_on_every_paged_list(
    client: TestClient, shop: str, path: str, cursor: str
) -> None:
    response = client.get(path, params={"cursor": cursor})
    # Name-sorted lists accept any decodable text as a position; nothing is a server error.
    assert response.status_code in (200, 422)
    if response.status_code == 422:
        assert "cursor" in response.json()["error"]["message"]
    assert client.get("/v1/apps").json()[0]["name"] == shop  # nothing was changed


@pytest.mark.parametrize("team", ["../alice", "alice;id", "ALICE", "a\nb", "bob$(id)", "аlice"])
def test_a_hostile_team_in_a_query_is_refused_before_anything_is_created(
    client: TestClient, shop: str, team: str
) -> None:
    created = client.post("/v1/apps", params={"team": team}, json={"name": "other"})
    moved = client.post(f"/v1/apps/{shop}/transfer", params={"team": team})
    assert (created.status_code, moved.status_code) == (422, 422)
    assert [a["name"] for a in client.get("/v1/apps").json()] == [shop]
    assert client.get(f"/v1/apps/{shop}").json()["team"] == "alice"
