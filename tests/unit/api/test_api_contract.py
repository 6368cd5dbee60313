"""The API keeps its own contract: strict bounded request bodies, UTC datetimes, and every
error status it answers with declared (with its body) in the OpenAPI document."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

import pytest
from tests.unit.fakes import World, deploy

if TYPE_CHECKING:
    from starlette.testclient import TestClient


@pytest.mark.parametrize(
    "body",
    [
        {"version": True},
        {"version": "1"},
        {"version": 1.0},
        {"version": 0},
        {"version": 99999999999999999999},
        {"version": -1},
    ],
)
def test_a_rollback_version_must_be_a_positive_integer(
    world: World, client: TestClient, shop: str, body: dict[str, object]
) -> None:
    deploy(world.platform, shop, "img:1")
    deploy(world.platform, shop, "img:2")
    response = client.post(f"/v1/apps/{shop}/rollback", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"
    assert [r["version"] for r in client.get(f"/v1/apps/{shop}/releases").json()] == [2, 1]


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"quantity": True}, "valid integer"),
        ({"quantity": 99999999999999999999}, "less than"),
        ({"quantity": 101}, "would run 101 instances"),
        ({"cpus": "1"}, "valid number"),
        ({"memory": "99999999999999999999G"}, "more than the maximum of"),
        ({"memory": "100000G"}, "more than the maximum of"),
    ],
)
def test_a_formation_beyond_the_ceilings_is_422_saying_why(
    world: World, client: TestClient, shop: str, update: dict[str, object], message: str
) -> None:
    deploy(world.platform, shop, "img:1")
    response = client.patch(
        f"/v1/apps/{shop}/formation", json={"updates": [{"type": "web", **update}]}
    )
    assert response.status_code == 422
    assert message in response.json()["error"]["message"]
    [web] = client.get(f"/v1/apps/{shop}/formation").json()[:1]
    assert (web["quantity"], web["memory"]) == (1, "512M")


def test_a_nul_in_a_config_value_is_422_and_makes_no_release(client: TestClient, shop: str) -> None:
    response = client.patch(f"/v1/apps/{shop}/config", json={"TOKEN": "a\u0000b"})
    assert response.status_code == 422
    assert "NUL" in response.json()["error"]["message"]
    assert "a\u0000b" not in response.text
    assert client.get(f"/v1/apps/{shop}/releases").json() == []


def test_every_datetime_in_a_response_carries_its_offset(
    world: World, client: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    stamps = [
        client.get(f"/v1/apps/{shop}").json()["created_at"],
        client.get(f"/v1/apps/{shop}/releases").json()[0]["created_at"],
        client.get("/v1/apps").json()[0]["created_at"],
    ]
    for stamp in stamps:
        assert re.search(r"(Z|[+-]\d\d:\d\d)$", stamp), stamp
        assert datetime.fromisoformat(stamp).utcoffset() is not None


def test_the_openapi_document_declares_the_error_answers_with_their_body(
    anonymous: TestClient,
) -> None:
    doc = anonymous.get("/openapi.json").json()
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}

    def declared(path: str, method: str) -> dict[str, object]:
        responses: dict[str, dict[str, dict[str, dict[str, object]]]] = doc["paths"][path][method][
            "responses"
        ]
        return {
            status: r["content"]["application/json"]["schema"]
            for status, r in responses.items()
            if status >= "400"
        }

    assert declared("/v1/apps", "post") == {
        s: error_ref for s in ("400", "401", "403", "404", "409", "413", "422", "429", "502", "503")
    }
    for path, methods in doc["paths"].items():
        for method in methods:
            errors = declared(path, method)
            assert {"401", "413", "422", "429"} <= set(errors), (method, path)
            assert all(v == error_ref for v in errors.values()), (method, path)
    assert "429" in declared("/v1/auth/tokens", "post")
    assert "HTTPValidationError" not in doc["components"]["schemas"]
