"""Authentication over HTTP: bearer tokens, logging in, and the error body shape."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from tests.unit.fakes import PASSWORD, World

if TYPE_CHECKING:
    from starlette.testclient import TestClient


def assert_error(body: Any, code: str) -> dict[str, Any]:
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    return error


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/apps"),
        ("POST", "/v1/apps"),
        ("GET", "/v1/apps/shop"),
        ("DELETE", "/v1/apps/shop"),
        ("PATCH", "/v1/apps/shop/config"),
        ("GET", "/v1/status"),
        ("GET", "/v1/auth/whoami"),
    ],
)
def test_calls_without_a_token_are_401_saying_to_log_in(
    anonymous: TestClient, method: str, path: str
) -> None:
    response = anonymous.request(method, path, json={})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "xae login" in assert_error(response.json(), "unauthorized")["message"]


def test_a_wrong_token_is_401(anonymous: TestClient) -> None:
    response = anonymous.get("/v1/apps", headers={"Authorization": "Bearer xae_wrong"})
    assert response.status_code == 401
    assert_error(response.json(), "unauthorized")


def test_a_non_bearer_authorization_header_is_401(anonymous: TestClient) -> None:
    response = anonymous.get("/v1/apps", headers={"Authorization": "Basic YWxpY2U6cHc="})
    assert response.status_code == 401
    assert_error(response.json(), "unauthorized")


def test_logging_in_returns_a_token_that_works(anonymous: TestClient) -> None:
    response = anonymous.post("/v1/auth/tokens", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    assert body["token"].startswith("xae_")

    whoami = anonymous.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {body['token']}"})
    assert whoami.status_code == 200
    me = whoami.json()
    assert (me["username"], me["is_admin"]) == ("alice", False)
    assert me["teams"] == [{"team": "alice", "role": "owner"}]
    assert me["token"] | {"expires_at": None} == {
        "name": "login",
        "scope": "admin",
        "app": None,
        "expires_at": None,
    }


def test_logging_in_with_a_wrong_password_is_401(anonymous: TestClient) -> None:
    response = anonymous.post("/v1/auth/tokens", json={"username": "alice", "password": "nope"})
    assert response.status_code == 401
    error = assert_error(response.json(), "unauthorized")
    assert "nope" not in error["message"]


def test_logging_in_without_a_password_is_422_invalid_input(anonymous: TestClient) -> None:
    response = anonymous.post("/v1/auth/tokens", json={"username": "alice"})
    assert response.status_code == 422
    assert "password" in assert_error(response.json(), "invalid_input")["message"]


def test_whoami_tells_admins_apart(world: World, anonymous: TestClient) -> None:
    response = anonymous.get(
        "/v1/auth/whoami", headers={"Authorization": f"Bearer {world.token('root')}"}
    )
    me = response.json()
    assert (me["username"], me["is_admin"], me["teams"]) == ("root", True, [])


def test_healthz_needs_no_token(anonymous: TestClient) -> None:
    assert anonymous.get("/healthz").json() == {"status": "ok"}


def test_an_unknown_path_is_404_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert_error(response.json(), "not_found")


def test_the_openapi_document_lists_the_v1_paths(anonymous: TestClient) -> None:
    paths = set(anonymous.get("/openapi.json").json()["paths"])
    assert {
        "/v1/auth/tokens",
        "/v1/auth/whoami",
        "/v1/status",
        "/v1/apps",
        "/v1/apps/{name}",
        "/v1/apps/{name}/config",
        "/v1/apps/{name}/releases",
        "/v1/apps/{name}/releases/{version}",
        "/v1/apps/{name}/rollback",
        "/v1/apps/{name}/formation",
        "/v1/apps/{name}/restart",
        "/v1/apps/{name}/instances",
        "/v1/apps/{name}/deploys",
    } <= paths
    assert all(p.startswith("/v1/") for p in paths)
