"""Config, releases, rollback and formation over HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from tests.unit.fakes import World, deploy

if TYPE_CHECKING:
    from starlette.testclient import TestClient


def test_a_config_patch_creates_a_release_and_returns_it(
    world: World, client: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")

    response = client.patch(f"/v1/apps/{shop}/config", json={"API_KEY": "s3cret", "DEBUG": "1"})

    assert response.status_code == 200
    release = response.json()
    assert release["version"] == 2
    assert release["status"] == "succeeded"
    assert release["config_keys"] == ["API_KEY", "DEBUG"]
    assert release["image"] == "img:1"
    assert release["created_by"] == "alice"
    assert "s3cret" not in response.text  # values are not echoed in the release
    assert client.get(f"/v1/apps/{shop}/config").json() == {"API_KEY": "s3cret", "DEBUG": "1"}
    assert client.get(f"/v1/apps/{shop}").json()["release"] == 2
    [web] = world.runtime.of(shop, "web")
    assert world.runtime.spec_of(web).env == {"API_KEY": "s3cret", "DEBUG": "1"}


def test_a_null_value_unsets_a_key(client: TestClient, shop: str) -> None:
    client.patch(f"/v1/apps/{shop}/config", json={"A": "1", "B": "2"})
    response = client.patch(f"/v1/apps/{shop}/config", json={"A": None})
    assert response.json()["config_keys"] == ["B"]
    assert client.get(f"/v1/apps/{shop}/config").json() == {"B": "2"}


def test_a_reserved_config_key_is_422_invalid_name(client: TestClient, shop: str) -> None:
    response = client.patch(f"/v1/apps/{shop}/config", json={"PORT": "80"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_name"
    assert client.get(f"/v1/apps/{shop}/releases").json() == []


def test_a_failed_config_rollout_is_422_deploy_failed_with_the_log_tail(
    world: World, client: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    world.runtime.unhealthy_images.add("img:1")  # the app now fails its health check

    response = client.patch(f"/v1/apps/{shop}/config", json={"A": "1"})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "deploy_failed"
    assert error["details"]["log_tail"] == world.runtime.log_lines
    statuses = [r["status"] for r in client.get(f"/v1/apps/{shop}/releases").json()]
    assert statuses == ["failed", "succeeded"]


@pytest.fixture
def three_releases(client: TestClient, shop: str) -> str:
    for value in ("1", "2", "3"):
        assert client.patch(f"/v1/apps/{shop}/config", json={"N": value}).status_code == 200
    return shop


def test_releases_are_listed_newest_first(client: TestClient, three_releases: str) -> None:
    releases = client.get(f"/v1/apps/{three_releases}/releases").json()
    assert [r["version"] for r in releases] == [3, 2, 1]


@pytest.mark.parametrize("version", ["v3", "3"])
def test_a_release_can_be_named_with_or_without_the_v(
    client: TestClient, three_releases: str, version: str
) -> None:
    response = client.get(f"/v1/apps/{three_releases}/releases/{version}")
    assert response.status_code == 200
    assert response.json()["version"] == 3


@pytest.mark.parametrize("version", ["x", "v", "3x", "-1"])
def test_a_release_that_is_not_a_number_is_422(
    client: TestClient, three_releases: str, version: str
) -> None:
    response = client.get(f"/v1/apps/{three_releases}/releases/{version}")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert "like v3" in error["message"]


def test_a_release_in_unicode_digits_that_int_cannot_read_is_422_not_500(
    client: TestClient, three_releases: str
) -> None:
    # "³".isdigit() is True but int("³") raises ValueError: it must not become a 500.
    response = client.get(f"/v1/apps/{three_releases}/releases/v\u00b3")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


def test_an_unknown_release_is_404(client: TestClient, three_releases: str) -> None:
    response = client.get(f"/v1/apps/{three_releases}/releases/v9")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_rollback_returns_the_new_release(world: World, client: TestClient, shop: str) -> None:
    deploy(world.platform, shop, "img:1")
    deploy(world.platform, shop, "img:2")

    response = client.post(f"/v1/apps/{shop}/rollback", json={})

    assert response.status_code == 200
    assert response.json()["version"] == 3
    assert response.json()["description"] == "Rollback to v1"
    assert response.json()["image"] == "img:1"


def test_scaling_through_the_api_returns_the_new_formation(
    world: World, client: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    response = client.patch(
        f"/v1/apps/{shop}/formation",
        json={
            "updates": [
                {"type": "web", "quantity": 2},
                {"type": "worker", "quantity": 1, "memory": "256M"},
            ]
        },
    )
    assert response.status_code == 200
    assert [(f["type"], f["quantity"], f["memory"]) for f in response.json()] == [
        ("web", 2, "512M"),
        ("worker", 1, "256M"),
    ]
    instances = client.get(f"/v1/apps/{shop}/instances").json()
    assert [i["type"] for i in instances] == ["web", "web", "worker"]
    assert len(world.router.served()[shop]) == 2


def test_scaling_an_unknown_process_type_is_422_invalid_input(
    world: World, client: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    response = client.patch(
        f"/v1/apps/{shop}/formation", json={"updates": [{"type": "clock", "quantity": 1}]}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert "web, worker" in error["message"]


def test_restart_is_204_and_replaces_the_instances(
    world: World, client: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    [before] = world.runtime.of(shop)
    assert client.post(f"/v1/apps/{shop}/restart", json={}).status_code == 204
    [after] = world.runtime.of(shop)
    assert after.id != before.id
