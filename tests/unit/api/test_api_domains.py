"""Custom domains and route settings through the API, on the fake router: what is stored, what
the router is handed, and that every refusal leaves both as they were."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select
from tests.unit.fakes import World

from xae.control.domains import routing_lookup
from xae.control.routes import AppRouting
from xae.router.base import Route
from xae.store.models import App, Domain, Event

if TYPE_CHECKING:
    from starlette.testclient import TestClient


def route_of(world: World, app: str) -> Route:
    routes = {r.app: r for r in world.router.applied[-1]}
    return routes[app]


def as_(world: World, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.token(user)}"}


def add(client: TestClient, app: str, hostname: str, **kwargs: Any) -> Any:
    return client.post(f"/v1/apps/{app}/domains", json={"hostname": hostname}, **kwargs)


def test_an_added_domain_is_stored_canonical_listed_and_served(
    client: TestClient, world: World, shop: str
) -> None:
    response = add(client, shop, "WWW.Bücher.Example")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["hostname"] == "www.xn--bcher-kva.example"
    assert body["wildcard"] is False and body["created_by"] == "alice"
    listed = client.get(f"/v1/apps/{shop}/domains").json()
    assert [d["hostname"] for d in listed] == ["www.xn--bcher-kva.example"]
    assert client.get(f"/v1/apps/{shop}").json()["domains"] == ["www.xn--bcher-kva.example"]
    assert route_of(world, shop).hosts == ["shop.localhost", "www.xn--bcher-kva.example"]
    with world.db.session() as session:
        events = session.scalars(select(Event).where(Event.action == "domain.add")).all()
        assert [(e.actor, e.target, e.app) for e in events] == [
            ("alice", "www.xn--bcher-kva.example", shop)
        ]


@pytest.mark.parametrize(
    "hostname",
    [
        "www.*.example.com",
        "*.com",
        "10.0.0.1",
        "[::1]",
        "a" * 64 + ".example.com",
        "p\u0430ypal.com",
        "www.example.com;",
        "www.example.com{ }",
        "www.example.com\r\nX-Evil: 1",
        "other.localhost",  # under the base domain: another app's name
    ],
)
def test_an_invalid_domain_is_422_and_changes_nothing(
    client: TestClient, world: World, shop: str, hostname: str
) -> None:
    applied = len(world.router.applied)
    response = add(client, shop, hostname)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_name"
    assert "\r" not in response.json()["error"]["message"]
    assert client.get(f"/v1/apps/{shop}/domains").json() == []
    assert len(world.router.applied) == applied


def test_a_domain_of_another_teams_app_is_409_without_naming_it(
    client: TestClient, world: World, shop: str
) -> None:
    bob = as_(world, "bob")
    assert client.post("/v1/apps", json={"name": "rival"}, headers=bob).status_code == 201
    assert add(client, shop, "www.example.com").status_code == 201
    applied = len(world.router.applied)

    for variant in ("www.example.com", "WWW.EXAMPLE.COM.", "ｗｗｗ.example.com"):
        response = add(client, "rival", variant, headers=bob)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "already_exists"
        assert "another app" in response.text and shop not in response.text

    assert client.get("/v1/apps/rival/domains", headers=bob).json() == []
    assert len(world.router.applied) == applied
    assert route_of(world, shop).hosts == ["shop.localhost", "www.example.com"]
    assert route_of(world, "rival").hosts == ["rival.localhost"]

    # Someone who may read the holder is told which app it is.
    by_admin = add(client, "rival", "www.example.com", headers=as_(world, "root"))
    assert by_admin.status_code == 409 and "app shop" in by_admin.text
    again = add(client, shop, "www.example.com")
    assert again.status_code == 409 and "already a domain of shop" in again.text


def test_another_team_cannot_remove_a_domain_it_does_not_hold(
    client: TestClient, world: World, shop: str
) -> None:
    bob = as_(world, "bob")
    assert client.post("/v1/apps", json={"name": "rival"}, headers=bob).status_code == 201
    assert add(client, shop, "www.example.com").status_code == 201
    gone = client.delete("/v1/apps/rival/domains/www.example.com", headers=bob)
    assert gone.status_code == 404
    theirs = client.delete(f"/v1/apps/{shop}/domains/www.example.com", headers=bob)
    assert theirs.status_code == 404
    assert route_of(world, shop).hosts == ["shop.localhost", "www.example.com"]


def test_a_wildcard_and_an_exact_name_under_it_may_belong_to_two_apps(
    client: TestClient, world: World, shop: str
) -> None:
    assert client.post("/v1/apps", json={"name": "blog"}).status_code == 201
    wildcard = add(client, shop, "*.example.com")
    assert wildcard.status_code == 201 and wildcard.json()["wildcard"] is True
    assert add(client, "blog", "blog.example.com").status_code == 201
    assert route_of(world, shop).hosts == ["shop.localhost", "*.example.com"]
    assert route_of(world, "blog").hosts == ["blog.localhost", "blog.example.com"]


def test_removing_a_domain_stops_serving_it_and_frees_it(
    client: TestClient, world: World, shop: str
) -> None:
    assert add(client, shop, "www.example.com").status_code == 201
    removed = client.delete(f"/v1/apps/{shop}/domains/WWW.Example.com")
    assert removed.status_code == 204, removed.text
    assert route_of(world, shop).hosts == ["shop.localhost"]
    assert client.get(f"/v1/apps/{shop}/domains").json() == []
    missing = client.delete(f"/v1/apps/{shop}/domains/www.example.com")
    assert missing.status_code == 404 and "xae domains --app shop" in missing.text
    nonsense = client.delete(f"/v1/apps/{shop}/domains/a;b")
    assert nonsense.status_code == 404
    bob = as_(world, "bob")
    assert client.post("/v1/apps", json={"name": "rival"}, headers=bob).status_code == 201
    assert add(client, "rival", "www.example.com", headers=bob).status_code == 201


def test_destroying_an_app_frees_its_domains(client: TestClient, world: World, shop: str) -> None:
    assert add(client, shop, "www.example.com").status_code == 201
    assert client.delete(f"/v1/apps/{shop}", params={"confirm": shop}).status_code == 204
    with world.db.session() as session:
        assert session.scalars(select(Domain)).all() == []
    assert client.post("/v1/apps", json={"name": "next"}).status_code == 201
    assert add(client, "next", "www.example.com").status_code == 201


def test_route_settings_are_stored_shown_and_served(
    client: TestClient, world: World, shop: str
) -> None:
    changes = {
        "redirect_https": True,
        "max_body": 50 * 1024**2,
        "read_timeout": 120,
        "scale_from_zero": True,
    }
    response = client.patch(f"/v1/apps/{shop}", json=changes)
    assert response.status_code == 200, response.text
    assert response.json()["routing"] == changes
    route = route_of(world, shop)
    assert (route.redirect_https, route.max_body, route.read_timeout, route.wake) == (
        True,
        50 * 1024**2,
        120,
        True,
    )
    # Leaving a field out keeps it; an explicit null puts a limit back to the default.
    response = client.patch(f"/v1/apps/{shop}", json={"max_body": None, "redirect_https": False})
    assert response.json()["routing"] == {
        "redirect_https": False,
        "max_body": None,
        "read_timeout": 120,
        "scale_from_zero": True,
    }
    assert route_of(world, shop).max_body is None
    assert route_of(world, shop).read_timeout == 120


@pytest.mark.parametrize(
    "changes",
    [
        {"max_body": 0},
        {"max_body": 1024**3 + 1},
        {"max_body": "50M"},  # the CLI converts sizes; the API takes bytes
        {"read_timeout": 0},
        {"read_timeout": 3601},
        {"read_timeout": 1.5},
        {"redirect_https": "yes"},
        {"scale_from_zero": 1},
    ],
)
def test_route_settings_out_of_bounds_are_422_and_change_nothing(
    client: TestClient, world: World, shop: str, changes: dict[str, Any]
) -> None:
    applied = len(world.router.applied)
    before = client.get(f"/v1/apps/{shop}").json()["routing"]
    response = client.patch(f"/v1/apps/{shop}", json=changes)
    assert response.status_code == 422, response.text
    assert client.get(f"/v1/apps/{shop}").json()["routing"] == before
    assert len(world.router.applied) == applied


def test_a_viewer_cannot_add_a_domain(client: TestClient, world: World, shop: str) -> None:
    root = as_(world, "root")
    assert client.post("/v1/users", json={"name": "carol"}, headers=root).status_code in (200, 201)
    assert client.put("/v1/teams/alice/members/carol", json={"role": "viewer"}).status_code < 300
    carol = as_(world, "carol")
    assert client.get(f"/v1/apps/{shop}/domains", headers=carol).status_code == 200
    refused = add(client, shop, "www.example.com", headers=carol)
    assert refused.status_code == 403
    assert client.get(f"/v1/apps/{shop}/domains").json() == []


# -- the lookup the routing table calls -----------------------------------------------------


def test_the_lookup_gives_defaults_for_an_unknown_app(world: World) -> None:
    lookup = routing_lookup(world.db, "localhost")
    assert lookup("nobody") == AppRouting()


def test_the_lookup_reads_domains_sorted_and_settings(
    client: TestClient, world: World, shop: str
) -> None:
    for name in ("zz.example.com", "*.example.org", "aa.example.com"):
        assert add(client, shop, name).status_code == 201
    client.patch(f"/v1/apps/{shop}", json={"read_timeout": 30, "scale_from_zero": True})
    routing = routing_lookup(world.db, "localhost")(shop)
    assert routing == AppRouting(
        domains=["*.example.org", "aa.example.com", "zz.example.com"],
        read_timeout=30,
        wake=True,
    )


def test_the_lookup_leaves_out_names_under_a_changed_base_domain(
    client: TestClient, world: World, shop: str
) -> None:
    for name in ("www.example.com", "shop.apps.example.com", "*.apps.example.com"):
        assert add(client, shop, name).status_code == 201
    with world.db.session() as session:
        assert session.scalar(select(App).where(App.name == shop)) is not None
    # The operator moved the platform to apps.example.com since these were added.
    routing = routing_lookup(world.db, "apps.example.com")(shop)
    assert routing.domains == ["www.example.com"]
