"""App lifecycle: create, update health settings, destroy with everything the app owns."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from tests.unit.fakes import World, deploy

from xae.auth.policy import Principal
from xae.control.apps import HealthSettings, create_app, destroy_app, get_app, update_app
from xae.errors import AlreadyExists, InvalidInput, InvalidName, NotFound
from xae.store.models import App, Build, Event, Formation, Release


def count(world: World, model: type[object]) -> int:
    with world.db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_created_app_belongs_to_its_creator_and_gets_an_empty_route(
    world: World, alice: Principal
) -> None:
    create_app(world.platform, alice, "shop")
    with world.db.session() as session:
        app = get_app(session, "shop")
        assert app.team.name == "alice"
        assert (app.config_sealed, app.config_keys) == ("", [])
        assert app.current_release is None
    assert world.router.served() == {"shop": []}


def test_an_app_name_can_be_used_once(world: World, alice: Principal) -> None:
    create_app(world.platform, alice, "shop")
    with pytest.raises(AlreadyExists, match="'shop' already exists"):
        create_app(world.platform, alice, "shop")


@pytest.mark.parametrize("name", ["Shop", "../x", "a;b", "", "x" * 31])
def test_an_invalid_app_name_creates_nothing(world: World, alice: Principal, name: str) -> None:
    with pytest.raises(InvalidName):
        create_app(world.platform, alice, name)
    assert count(world, App) == 0
    assert world.router.applied == []


def test_an_app_name_with_a_trailing_newline_is_refused_and_routing_keeps_working(
    world: World, alice: Principal
) -> None:
    # The name gate must refuse "shop\n" before the app is stored; the router refuses its host
    # name, so if it gets through, every later route change of every app fails.
    with pytest.raises(InvalidName):
        create_app(world.platform, alice, "shop\n")
    assert count(world, App) == 0

    create_app(world.platform, alice, "blog")
    deploy(world.platform, "blog", "blog:1")

    [web] = world.runtime.of("blog")
    assert world.router.served() == {"blog": [f"{web.address}:{web.port}"]}


def test_an_unknown_app_is_not_found_with_a_hint(world: World) -> None:
    with pytest.raises(NotFound, match="xae apps:create nope"), world.db.session() as session:
        get_app(session, "nope")


def test_destroy_requires_the_app_name_as_confirmation(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    for confirm in (None, "", "shop2", "SHOP"):
        with pytest.raises(InvalidInput, match="--confirm shop"):
            destroy_app(world.platform, alice, shop, confirm)
    assert len(world.runtime.of(shop)) == 1
    assert count(world, App) == 1


def test_destroy_removes_instances_route_rows_and_sources(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    deploy(world.platform, shop, "img:2")
    sources = world.platform.settings.builds_dir / shop / "upload-1"
    sources.mkdir(parents=True)
    (sources / "app.py").write_text("print('hi')\n")

    destroy_app(world.platform, alice, shop, confirm=shop)

    assert world.runtime.of(shop) == []
    assert shop not in world.runtime.networks
    assert shop not in world.router.served()
    assert shop not in world.platform.routes.apps()
    for model in (App, Build, Release, Formation):
        assert count(world, model) == 0, model
    assert not (world.platform.settings.builds_dir / shop).exists()
    with world.db.session() as session:
        actions = list(session.scalars(select(Event.action).where(Event.target == shop)))
    assert actions[0] == "app.create" and actions[-1] == "app.destroy"


def test_destroy_leaves_other_apps_alone(world: World, shop: str, alice: Principal) -> None:
    create_app(world.platform, alice, "blog")
    deploy(world.platform, "blog", "blog:1")
    deploy(world.platform, shop, "img:1")
    [blog_web] = world.runtime.of("blog")

    destroy_app(world.platform, alice, shop, confirm=shop)

    assert world.runtime.of("blog") == [blog_web]
    assert world.router.served() == {"blog": [f"{blog_web.address}:{blog_web.port}"]}


def test_a_destroyed_app_name_can_be_created_again(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    destroy_app(world.platform, alice, shop, confirm=shop)
    create_app(world.platform, alice, shop)
    with world.db.session() as session:
        assert get_app(session, shop).current_release is None


def test_destroying_an_unknown_app_is_not_found(world: World, alice: Principal) -> None:
    with pytest.raises(NotFound):
        destroy_app(world.platform, alice, "nope", confirm="nope")


def test_health_settings_are_stored_per_app(world: World, shop: str, alice: Principal) -> None:
    update_app(
        world.platform,
        alice,
        shop,
        HealthSettings(path="/healthz", timeout=3.0, attempts=10, drain_seconds=0),
    )
    with world.db.session() as session:
        app = get_app(session, shop)
        assert (app.health_path, app.health_timeout, app.health_attempts, app.drain_seconds) == (
            "/healthz",
            3.0,
            10,
            0,
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (HealthSettings(path="healthz"), "must start with '/'"),
        (HealthSettings(path="/a b"), "a space at position 2"),
        (HealthSettings(path="/a\tb"), "control character"),
        (HealthSettings(path="/up\r\nX-Evil: 1"), "control character"),
        (HealthSettings(timeout=0), "timeout must be between"),
        (HealthSettings(timeout=float("nan")), "timeout must be between"),
        (HealthSettings(attempts=0), "attempts must be between"),
        (HealthSettings(timeout=60, attempts=1000), "at most 600 s"),
        (HealthSettings(drain_seconds=float("inf")), "drain seconds must be between"),
        (HealthSettings(drain_seconds=-1), "drain seconds must be between"),
    ],
)
def test_bad_health_settings_are_rejected(
    world: World, shop: str, alice: Principal, changes: HealthSettings, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        update_app(world.platform, alice, shop, changes)


def test_the_time_bound_counts_the_stored_value_of_the_other_setting(
    world: World, shop: str, alice: Principal
) -> None:
    update_app(world.platform, alice, shop, HealthSettings(timeout=60, attempts=10))
    with pytest.raises(InvalidInput, match="1000 attempts × 60 s could take 60000 s"):
        update_app(world.platform, alice, shop, HealthSettings(attempts=1000))
    with world.db.session() as session:
        assert get_app(session, shop).health_attempts == 10
