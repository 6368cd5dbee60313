"""Certificates through the API: upload, list, replace, remove; the key never comes back (in
no response, audit event or log line); another team's app answers 404; what the router gets."""

from __future__ import annotations

import logging
import stat

import pytest
from cryptography import x509
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.certmaker import chain, make
from tests.unit.fakes import World

from xae.control.certificates import LOCAL_CA_NAME, app_hosts, served_certificates
from xae.control.configvars import rotate_key
from xae.store.models import App, Certificate, Event


def key_lines(key_pem: str) -> list[str]:
    """The key's base64 lines: none may appear anywhere."""
    return [line for line in key_pem.splitlines() if line and not line.startswith("-----")]


def upload(client: TestClient, app: str, names: list[str]) -> tuple[dict[str, object], str]:
    c = chain(names)
    response = client.post(
        f"/v1/apps/{app}/certs", json={"chain": c.chain_pem, "key": c.leaf.key_pem}
    )
    assert response.status_code == 201, response.text
    return response.json(), c.leaf.key_pem


def test_upload_list_and_remove_without_the_key_ever_coming_back(
    client: TestClient, shop: str, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    added, key = upload(client, shop, ["shop.localhost", "www.shop.example"])
    cert = added["certificate"]
    assert isinstance(cert, dict)
    assert cert["names"] == ["shop.localhost", "www.shop.example"]
    assert cert["issuer"] == "Test Intermediate"
    assert 88 <= cert["days_left"] <= 90
    assert added["warnings"] == [] and added["replaced"] is None

    listed = client.get(f"/v1/apps/{shop}/certs")
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()] == [cert["id"]]

    removed = client.delete(f"/v1/apps/{shop}/certs/{cert['id']}")
    assert removed.status_code == 204
    assert client.get(f"/v1/apps/{shop}/certs").json() == []
    again = client.delete(f"/v1/apps/{shop}/certs/{cert['id']}")
    assert again.status_code == 404 and "certs --app shop" in again.json()["error"]["message"]

    audit = client.get("/v1/audit", params={"app": shop}).text
    with world.db.session() as session:
        events = [(e.action, str(e.details)) for e in session.scalars(select(Event))]
    assert ("cert.add" in {a for a, _ in events}) and ("cert.remove" in {a for a, _ in events})
    everything = "\n".join(
        [str(added), listed.text, audit, str(events), caplog.text]
        + [r.getMessage() for r in caplog.records]
    )
    for line in key_lines(key):
        assert line not in everything
    assert "PRIVATE KEY" not in everything


def test_the_key_is_sealed_in_the_store(client: TestClient, shop: str, world: World) -> None:
    _, key = upload(client, shop, ["shop.localhost"])
    with world.db.session() as session:
        row = session.scalars(select(Certificate)).one()
        assert not any(line in row.key_sealed for line in key_lines(key))
    raw = (world.platform.settings.state_dir.parent / "xae.db").read_bytes()
    assert not any(line.encode() in raw for line in key_lines(key))


def test_a_certificate_with_the_same_names_replaces_the_first(
    client: TestClient, shop: str
) -> None:
    first, _ = upload(client, shop, ["shop.localhost"])
    second, _ = upload(client, shop, ["shop.localhost"])
    assert second["replaced"] == first["certificate"]["id"]  # type: ignore[index]
    assert [c["id"] for c in client.get(f"/v1/apps/{shop}/certs").json()] == [
        second["certificate"]["id"]  # type: ignore[index]
    ]


def test_a_refused_certificate_changes_nothing_and_says_why(client: TestClient, shop: str) -> None:
    c = chain(["elsewhere.example"])
    response = client.post(
        f"/v1/apps/{shop}/certs", json={"chain": c.chain_pem, "key": c.leaf.key_pem}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_certificate"
    assert "elsewhere.example" in error["message"] and "shop.localhost" in error["message"]
    for line in key_lines(c.leaf.key_pem):
        assert line not in response.text
    assert client.get(f"/v1/apps/{shop}/certs").json() == []


def test_another_teams_app_answers_404_for_every_certificate_call(
    client: TestClient, shop: str, world: World
) -> None:
    added, _ = upload(client, shop, ["shop.localhost"])
    cert_id = added["certificate"]["id"]  # type: ignore[index]
    client.headers["Authorization"] = f"Bearer {world.token('bob')}"
    c = chain(["shop.localhost"])
    body = {"chain": c.chain_pem, "key": c.leaf.key_pem}
    for response in (
        client.get(f"/v1/apps/{shop}/certs"),
        client.post(f"/v1/apps/{shop}/certs", json=body),
        client.delete(f"/v1/apps/{shop}/certs/{cert_id}"),
    ):
        assert response.status_code == 404, response.text
    client.headers["Authorization"] = f"Bearer {world.token('alice')}"
    assert len(client.get(f"/v1/apps/{shop}/certs").json()) == 1


def test_a_body_over_the_api_limit_is_refused_with_413(client: TestClient, shop: str) -> None:
    response = client.post(f"/v1/apps/{shop}/certs", json={"chain": "x" * 70_000, "key": "k"})
    assert response.status_code == 413


def test_the_router_gets_every_certificate_with_its_key_opened_and_the_local_ca(
    client: TestClient, shop: str, world: World
) -> None:
    changes: list[int] = []
    world.platform.on_certificates_changed = lambda: changes.append(1)
    added, key = upload(client, shop, ["shop.localhost", "www.shop.example"])
    assert changes == [1]
    p = world.platform
    p.local_ca.ensure()
    with p.db.session() as session:
        served = served_certificates(session, p.vault, lambda app: app_hosts(p, app), p.local_ca)
    by_name = {c.name: c for c in served}
    mine = by_name[str(added["certificate"]["id"])]  # type: ignore[index]
    assert mine.key_pem == key  # decrypted, as uploaded (PKCS#8)
    assert mine.hosts == ["shop.localhost"]  # only the app's own hosts
    assert by_name[LOCAL_CA_NAME].hosts == ["*.localhost", "localhost"]
    # `shop.localhost` has its own certificate, so no local per-app leaf for it.
    assert f"{LOCAL_CA_NAME}-shop" not in by_name


def test_a_certificate_is_never_served_for_another_apps_host(
    client: TestClient, shop: str, world: World
) -> None:
    assert client.post("/v1/apps", json={"name": "cart"}).status_code == 201
    upload(client, shop, ["shop.localhost", "cart.localhost"])
    p = world.platform
    with p.db.session() as session:
        served = served_certificates(session, p.vault, lambda app: app_hosts(p, app), p.local_ca)
        uploaded = [c for c in served if not c.name.startswith(LOCAL_CA_NAME)]
    assert [c.hosts for c in uploaded] == [["shop.localhost"]]
    # cart gets the local CA's own leaf (one label base domain: no `*.localhost`).
    cart = next(c for c in served if c.name == f"{LOCAL_CA_NAME}-cart")
    leaf = x509.load_pem_x509_certificate(cart.chain_pem.encode())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["cart.localhost"]


def test_for_each_host_the_certificate_expiring_last_is_served(
    client: TestClient, shop: str, world: World
) -> None:
    short = make("shop.localhost", names=["shop.localhost"], days=10)
    long = make("shop.localhost", names=["shop.localhost", "x.shop.localhost"], days=60)
    for made in (long, short):
        body = {"chain": made.cert_pem, "key": made.key_pem}
        assert client.post(f"/v1/apps/{shop}/certs", json=body).status_code == 201
    p = world.platform
    with p.db.session() as session:
        served = served_certificates(session, p.vault, lambda app: app_hosts(p, app))
    assert len(served) == 1 and served[0].key_pem == long.key_pem


def test_destroying_the_app_removes_its_certificates(
    client: TestClient, shop: str, world: World
) -> None:
    upload(client, shop, ["shop.localhost"])
    changes: list[int] = []
    world.platform.on_certificates_changed = lambda: changes.append(1)
    assert client.delete(f"/v1/apps/{shop}", params={"confirm": shop}).status_code == 204
    assert changes == [1]  # the router drops them
    with world.db.session() as session:
        assert session.scalars(select(Certificate)).all() == []
        assert session.scalars(select(App)).all() == []


def test_rotating_the_key_reseals_certificate_keys(
    client: TestClient, shop: str, world: World
) -> None:
    _, key = upload(client, shop, ["shop.localhost"])
    p = world.platform
    rotation = rotate_key(p.db, p.vault, "xae-admin")
    assert rotation.certificates == 1
    with p.db.session() as session:
        served = served_certificates(session, p.vault, lambda app: app_hosts(p, app))
    assert served[0].key_pem == key


def test_status_and_the_ca_endpoint_say_how_to_trust_the_local_ca(
    client: TestClient, world: World
) -> None:
    ca = client.get("/v1/tls/ca").json()
    status = client.get("/v1/status").json()["local_ca"]
    assert ca == status
    assert ca["path"] == str(world.platform.settings.state_dir / "ca" / "ca.crt")
    assert any("curl --cacert" in line for line in ca["trust"])
    assert any("update-ca-certificates" in line for line in ca["trust"])
    assert ca["pem"].startswith("-----BEGIN CERTIFICATE-----")
    key = world.platform.settings.state_dir / "ca" / "ca.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert "PRIVATE" not in client.get("/v1/status").text
