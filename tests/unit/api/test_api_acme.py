"""Automatic certificates through the API: off until the operator names an ACME CA, refused
for apps without a name a public CA can check, and the HTTP-01 answers served publicly."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.unit.fakes import World

from xae.control import acme
from xae.control.acme import renew_due


def test_the_challenge_answer_is_public_and_only_for_published_tokens(
    anonymous: TestClient, world: World
) -> None:
    board = world.platform.challenges
    assert anonymous.get("/.well-known/acme-challenge/tok-1").status_code == 404
    board.publish("tok-1", "tok-1.thumbprint")
    answered = anonymous.get("/.well-known/acme-challenge/tok-1")
    assert answered.status_code == 200
    assert answered.text == "tok-1.thumbprint"
    assert answered.headers["content-type"].startswith("text/plain")
    board.withdraw("tok-1")
    assert anonymous.get("/.well-known/acme-challenge/tok-1").status_code == 404
    # A token is letters, digits, - and _: anything else is not looked up.
    assert anonymous.get("/.well-known/acme-challenge/a.b").status_code in (404, 422)


def test_auto_certificates_are_off_until_an_acme_ca_is_set(
    client: TestClient, shop: str, world: World
) -> None:
    refused = client.post(f"/v1/apps/{shop}/certs/auto", json={})
    assert refused.status_code == 422
    assert "XAE_ACME_DIRECTORY" in refused.json()["error"]["message"]
    assert client.get(f"/v1/apps/{shop}/certs").json() == []


def test_an_app_without_a_custom_domain_is_told_to_add_one(
    client: TestClient, shop: str, world: World
) -> None:
    p = world.platform
    p.settings = p.settings.model_copy(update={"acme_directory": "https://acme.invalid/dir"})
    refused = client.post(f"/v1/apps/{shop}/certs/auto", json={})
    assert refused.status_code == 422
    message = refused.json()["error"]["message"]
    assert "domains:add" in message and "--app shop" in message
    assert client.get(f"/v1/apps/{shop}/certs").json() == []


def test_another_teams_app_is_not_found(client: TestClient, world: World) -> None:
    other = TestClient(client.app, raise_server_exceptions=False)
    other.headers["Authorization"] = f"Bearer {world.token('bob')}"
    assert other.post("/v1/apps", json={"name": "bobs"}).status_code == 201
    assert client.post("/v1/apps/bobs/certs/auto", json={}).status_code == 404


def test_nothing_is_renewed_without_acme_certificates(world: World) -> None:
    assert renew_due(world.platform) == []


def test_orders_beyond_the_platforms_limit_are_refused_not_queued(
    client: TestClient, shop: str, world: World
) -> None:
    p = world.platform
    p.settings = p.settings.model_copy(update={"acme_directory": "https://acme.invalid/dir"})
    assert (
        client.post(f"/v1/apps/{shop}/domains", json={"hostname": "shop.example.com"}).status_code
        == 201
    )
    for _ in range(acme.MAX_ORDERS):  # as many orders as allowed are waiting on the CA
        assert acme.ORDERS.acquire(blocking=False)
    try:
        refused = client.post(f"/v1/apps/{shop}/certs/auto", json={})
    finally:
        for _ in range(acme.MAX_ORDERS):
            acme.ORDERS.release()
    assert refused.status_code == 429
    assert "try again" in refused.json()["error"]["message"]
    assert client.get(f"/v1/apps/{shop}/certs").json() == []
