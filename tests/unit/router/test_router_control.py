"""The Python side of route updates: validating a delta and the payload the router gets."""

from __future__ import annotations

import json

import pytest

from xae.errors import InvalidInput, InvalidName
from xae.router.base import Backend, Route
from xae.router.control import entry_text, route_entry, route_from_entry, update_payload
from xae.router.validate import validate_route, validate_update

WEB = Route("web", ["web.localhost"], ["10.0.0.2:5000"], release="v3")


def test_an_entry_is_canonical_json_that_round_trips() -> None:
    route = Route(
        "shop",
        ["shop.localhost", "*.shop.example.com"],
        backends=[Backend("v7", 90, ["10.0.0.2:80"]), Backend("v8", 10, ["10.0.0.3:80"])],
        sticky=True,
        wake=True,
        redirect_https=True,
        max_body=50 * 1024 * 1024,
        read_timeout=120,
    )
    text = entry_text(route)
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert route_from_entry(json.loads(text)) == route
    assert "max_body" not in route_entry(WEB) and "read_timeout" not in route_entry(WEB)


def test_the_payload_carries_each_entry_as_one_string() -> None:
    body = json.loads(update_payload([WEB], ["gone"], replace=False))
    assert body == {"changed": [entry_text(WEB)], "removed": ["gone"]}
    assert json.loads(update_payload([], [], replace=True))["replace"] is True


def test_a_delta_may_move_a_host_only_away_from_an_app_that_lets_it_go() -> None:
    table = {"web": WEB}
    thief = Route("thief", ["web.localhost"], [])
    with pytest.raises(InvalidInput, match="claimed by both 'web' and 'thief'"):
        validate_update(table, [thief], [])
    assert validate_update(table, [thief], ["web"]) == ([thief], ["web"])
    moved = Route("web", ["www.localhost"], [])
    routes, _ = validate_update(table, [thief, moved], [])
    assert [r.app for r in routes] == ["thief", "web"]


def test_an_app_cannot_be_changed_and_removed_at_once() -> None:
    with pytest.raises(InvalidInput, match="both changed and removed"):
        validate_update({}, [WEB], ["web"])
    with pytest.raises(InvalidName):
        validate_update({}, [], ['bad"app'])


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (Route("a", ["a.l"], backends=[Backend("v1", 60, ["10.0.0.1:1"])]), "add up to 60"),
        (
            Route("a", ["a.l"], backends=[Backend("v1", 90, ["10.0.0.1:1"]), Backend("v2", 10)]),
            "no instances",
        ),
        (
            Route(
                "a",
                ["a.l"],
                backends=[Backend("v1", 50, ["10.0.0.1:1"]), Backend("v1", 50, ["10.0.0.1:1"])],
            ),
            "twice",
        ),
        (Route("a", ["a.l"], backends=[Backend("v1;x", 100, ["10.0.0.1:1"])]), "release"),
        (Route("a", ["a.l"], backends=[Backend("v1", 101, ["10.0.0.1:1"])]), "0-100"),
        (Route("a", ["a.l"], release='v1"'), "release"),
        (Route("a", ["a.l"], max_body=0), "max_body"),
        (Route("a", ["a.l"], max_body=(1 << 30) + 1), "max_body"),
        (Route("a", ["a.l"], read_timeout=-5), "read_timeout"),
    ],
)
def test_bad_route_fields_are_refused_saying_which(route: Route, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate_route(route)


def test_a_valid_split_is_kept_and_normalized() -> None:
    route = validate_route(
        Route(
            "a",
            ["A.localhost"],
            backends=[Backend("v1", 100, ["10.0.0.1:1", "10.0.0.1:1"]), Backend("v2", 0)],
        )
    )
    assert route.hosts == ["a.localhost"]
    assert route.backends == [Backend("v1", 100, ["10.0.0.1:1"]), Backend("v2", 0, [])]
