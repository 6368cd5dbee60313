"""`certs:auto` and renewal through xae's services against a real ACME CA (pebble).

The CA's HTTP-01 checks reach a small HTTP server that answers from the platform's challenge
board, as the router hands them to the API in production (tests/e2e/test_tls.py covers that
path); the platform runs on the fakes of the unit tests otherwise."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.exceptions import StarletteDeprecationWarning
from tests.integration.acme.conftest import Responder
from tests.pebble import running_pebble
from tests.unit.fakes import World, make_db_template, make_world

from xae.api.app import create_app
from xae.control.acme import renew_due
from xae.store.models import Certificate, Event

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


@dataclass
class Setup:
    world: World
    client: TestClient
    board: Responder


@pytest.fixture
def setup(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Setup]:
    world = make_world(make_db_template(tmp_path_factory), tmp_path)
    board = Responder(source=world.platform.challenges.answer)
    serving = threading.Thread(target=board.serve_forever, kwargs={"poll_interval": 0.05})
    serving.start()
    try:
        with running_pebble(tmp_path / "pebble", board.server_address[1]) as ca:
            p = world.platform
            p.settings = p.settings.model_copy(
                update={"acme_directory": ca.directory_url, "acme_ca_bundle": str(ca.ca_file)}
            )
            with TestClient(create_app(p), raise_server_exceptions=False) as client:
                client.headers["Authorization"] = f"Bearer {world.token('alice')}"
                yield Setup(world, client, board)
    finally:
        board.shutdown()
        serving.join(timeout=10)
        board.server_close()
        world.db.engine.dispose()


def certificates(world: World) -> list[Certificate]:
    with world.db.session() as session:
        rows = list(session.scalars(select(Certificate)))
        session.expunge_all()
        return rows


def test_certs_auto_issues_and_renewal_replaces_it_a_third_before_expiry(setup: Setup) -> None:
    client, world = setup.client, setup.world
    assert client.post("/v1/apps", json={"name": "shop"}).status_code == 201
    domain = "shop.renew.test"
    assert client.post("/v1/apps/shop/domains", json={"hostname": domain}).status_code == 201

    issued = client.post("/v1/apps/shop/certs/auto", json={})
    assert issued.status_code == 201, issued.text
    cert = issued.json()["certificate"]
    assert cert["names"] == [domain] and cert["source"] == "acme"
    assert renew_due(world.platform) == []  # fresh: nothing due

    [first] = certificates(world)
    due = first.not_after - timedelta(days=29)
    assert renew_due(world.platform, now=due) == ["shop"]
    [second] = certificates(world)  # the same names: the renewal replaced it
    assert second.fingerprint != first.fingerprint and second.source == "acme"
    assert second.not_after > first.not_after

    # The CA cannot check the name any more: the renewal fails, is audited, and the current
    # certificate stays.
    setup.board.answering = False
    assert renew_due(world.platform, now=second.not_after - timedelta(days=29)) == []
    [kept] = certificates(world)
    assert kept.fingerprint == second.fingerprint
    with world.db.session() as session:
        failed = session.scalars(select(Event).where(Event.action == "cert.renew_failed")).all()
        assert len(failed) == 1 and domain in str(failed[0].details)
