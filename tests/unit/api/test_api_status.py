"""`GET /v1/status`: the reconciler component names the apps that are not being healed."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning
from tests.unit.fakes import World, deploy

from xae.api.app import create_app
from xae.control.apps import create_app as create_xae_app
from xae.control.reconciler import Reconciler

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture
def reconciler(world: World) -> Iterator[Reconciler]:
    world.platform.settings.reconcile_interval = 0.05
    world.platform.settings.reconcile_backoff = 0.05
    world.platform.settings.reconcile_backoff_max = 0.1
    reconciler = Reconciler(world.platform)
    reconciler.start()
    yield reconciler
    reconciler.stop()


def client_for(world: World, reconciler: Reconciler, user: str) -> TestClient:
    client = TestClient(create_app(world.platform, reconciler), raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {world.token(user)}"
    return client


def component(client: TestClient) -> dict[str, Any]:
    components = client.get("/v1/status").json()["components"]
    found: dict[str, Any] = next(c for c in components if c["name"] == "reconciler")
    return found


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def test_a_failing_app_makes_the_reconciler_unhealthy_naming_it_until_it_recovers(
    world: World, reconciler: Reconciler
) -> None:
    create_xae_app(world.platform, world.user("alice"), "shop")
    create_xae_app(world.platform, world.user("bob"), "blog")
    deploy(world.platform, "shop", "img:1")
    deploy(world.platform, "blog", "blog:1")
    alice, bob = client_for(world, reconciler, "alice"), client_for(world, reconciler, "bob")
    root = client_for(world, reconciler, "root")
    assert component(alice)["healthy"] is True
    world.runtime.failing_images.add("img:1")
    [web] = world.runtime.of("shop")
    world.runtime.kill(web.id)

    wait_for(lambda: component(alice)["healthy"] is False, "alice's status to show the failure")

    mine = component(alice)
    assert "not healing: shop fails since" in mine["detail"]
    assert "could not start web instances" in mine["detail"]
    assert "temporary error; next pass at" in mine["detail"]
    assert "retried less and less often" in mine["hint"]
    assert "xae apps:info" in mine["hint"]
    assert "shop" in component(root)["detail"] and component(root)["healthy"] is False
    # bob's apps heal: he learns that another app fails, never which one or why.
    theirs = component(bob)
    assert theirs["healthy"] is True
    assert "shop" not in theirs["detail"] and "could not start" not in theirs["detail"]
    assert "1 app(s) of other teams fail" in theirs["detail"]

    world.runtime.failing_images.clear()
    wait_for(lambda: component(alice)["healthy"] is True, "the failure to clear")
    assert "not healing" not in component(alice)["detail"]


def test_platform_admins_see_the_disk_usage_and_other_users_do_not(
    world: World, reconciler: Reconciler
) -> None:
    (world.platform.settings.state_dir / "repos" / "shop.git").mkdir(parents=True)
    (world.platform.settings.state_dir / "repos" / "shop.git" / "HEAD").write_bytes(b"x" * 9000)
    admin = client_for(world, reconciler, "root").get("/v1/status").json()
    assert admin["disk"]["repositories"] >= 9000
    assert set(admin["disk"]) == {"images", "builds", "logs", "repositories"}
    assert client_for(world, reconciler, "alice").get("/v1/status").json()["disk"] is None
