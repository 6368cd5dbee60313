"""Fixtures for API unit tests: the FastAPI app on a `Platform` with the fake runtime and router."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from starlette.exceptions import StarletteDeprecationWarning
from tests.unit.fakes import World

from xae.api.app import create_app

# Starlette 1.x warns (as a UserWarning, which pytest turns into an error) when its test client
# runs on `httpx` rather than `httpx2`; the client works the same, so the import is quietened here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture
def anonymous(world: World) -> Iterator[TestClient]:
    """A client without a token."""
    with TestClient(create_app(world.platform), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(world: World, anonymous: TestClient) -> TestClient:
    """A client logged in as alice (who owns nothing yet)."""
    anonymous.headers["Authorization"] = f"Bearer {world.token('alice')}"
    return anonymous


@pytest.fixture
def shop(client: TestClient) -> str:
    """An app named `shop`, created by alice through the API."""
    assert client.post("/v1/apps", json={"name": "shop"}).status_code == 201
    return "shop"
