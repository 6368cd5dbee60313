"""Fixtures for control-layer unit tests: a `Platform` on the fake runtime and router."""

from __future__ import annotations

import pytest
from tests.unit.fakes import World

from xae.auth.policy import Principal
from xae.control.apps import create_app


@pytest.fixture
def alice(world: World) -> Principal:
    return world.user("alice")


@pytest.fixture
def shop(world: World, alice: Principal) -> str:
    """An app named `shop`, created by alice and not deployed yet."""
    create_app(world.platform, alice, "shop")
    world.events.clear()
    return "shop"
