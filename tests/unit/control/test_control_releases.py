"""Releases: config changes and rollbacks each make a new release and roll it out."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.unit.fakes import World, deploy

from xae.control.apps import get_app
from xae.control.releases import get_release, rollback, set_config
from xae.errors import DeployFailed, InvalidInput, InvalidName, NotFound
from xae.store.models import Release, User


def release(world: World, name: str, version: int) -> Release:
    with world.db.session() as session:
        return get_release(session, get_app(session, name), version)


def app_config(world: World, name: str) -> dict[str, str]:
    with world.db.session() as session:
        return dict(get_app(session, name).config)


def versions(world: World, name: str) -> list[int]:
    with world.db.session() as session:
        app = get_app(session, name)
        return list(session.scalars(
            select(Release.version).where(Release.app_id == app.id).order_by(Release.version)))


def test_setting_config_makes_a_new_release_that_instances_run_with(
    world: World, shop: str, alice: User
) -> None:
    deploy(world.platform, shop, "img:1")
    [old] = world.runtime.of(shop, "web")

    version = set_config(world.platform, alice, shop, {"DATABASE_URL": "postgres://db/shop"})

    assert version == 2
    new = release(world, shop, 2)
    assert new.config == {"DATABASE_URL": "postgres://db/shop"}
    assert new.build_id == release(world, shop, 1).build_id
    assert new.status == "succeeded"
    assert new.created_by == "alice"
    assert app_config(world, shop) == {"DATABASE_URL": "postgres://db/shop"}
    [web] = world.runtime.of(shop, "web")
    assert web.id != old.id
    assert world.runtime.spec_of(web).env == {"DATABASE_URL": "postgres://db/shop"}


def test_a_config_release_describes_the_keys_as_written(
    world: World, shop: str, alice: User
) -> None:
    set_config(world.platform, alice, shop, {"DATABASE_URL": "x", "API_KEY": "y"})
    set_config(world.platform, alice, shop, {"API_KEY": None})
    assert release(world, shop, 1).description == "Set API_KEY, DATABASE_URL"
    assert release(world, shop, 2).description == "Unset API_KEY"


def test_unsetting_a_key_removes_it_and_keeps_the_others(
    world: World, shop: str, alice: User
) -> None:
    set_config(world.platform, alice, shop, {"A": "1", "B": "2"})
    set_config(world.platform, alice, shop, {"A": None, "C": "3"})
    assert app_config(world, shop) == {"B": "2", "C": "3"}
    assert sorted(release(world, shop, 1).config) == ["A", "B"]  # old releases are immutable


def test_config_on_an_undeployed_app_is_kept_for_its_first_deploy(
    world: World, shop: str, alice: User
) -> None:
    assert set_config(world.platform, alice, shop, {"A": "1"}) == 1
    assert world.runtime.of(shop) == []

    deploy(world.platform, shop, "img:1")

    [web] = world.runtime.of(shop, "web")
    assert world.runtime.spec_of(web).env == {"A": "1"}


@pytest.mark.parametrize("key", ["PORT", "XAE_APP", "1BAD", "BAD-KEY"])
def test_reserved_or_invalid_keys_make_no_release(
    world: World, shop: str, alice: User, key: str
) -> None:
    with pytest.raises(InvalidName):
        set_config(world.platform, alice, shop, {key: "1"})
    assert versions(world, shop) == []


def test_an_empty_config_change_is_rejected(world: World, shop: str, alice: User) -> None:
    with pytest.raises(InvalidInput, match="config:set KEY=VALUE"):
        set_config(world.platform, alice, shop, {})


def test_a_value_over_32k_is_rejected_without_echoing_it(
    world: World, shop: str, alice: User
) -> None:
    with pytest.raises(InvalidInput) as caught:
        set_config(world.platform, alice, shop, {"BIG": "s" * 40000})
    assert "BIG" in caught.value.message
    assert "sss" not in caught.value.message


def test_a_config_change_that_breaks_the_app_keeps_the_old_config_serving(
    world: World, shop: str, alice: User
) -> None:
    deploy(world.platform, shop, "img:1")
    [old] = world.runtime.of(shop, "web")
    world.runtime.set_healthy("id2", False)  # the next instance started

    with pytest.raises(DeployFailed):
        set_config(world.platform, alice, shop, {"BROKEN": "1"})

    assert world.runtime.of(shop) == [old]
    assert app_config(world, shop) == {}
    assert release(world, shop, 2).status == "failed"


def test_rollback_makes_a_new_release_with_the_previous_build_and_config(
    world: World, shop: str, alice: User
) -> None:
    deploy(world.platform, shop, "img:1")  # v1
    set_config(world.platform, alice, shop, {"A": "1"})  # v2
    deploy(world.platform, shop, "img:2")  # v3: img:2 with A=1
    set_config(world.platform, alice, shop, {"A": "2"})  # v4

    target, new = rollback(world.platform, alice, shop, None)

    assert (target, new) == (3, 5)
    v5 = release(world, shop, 5)
    assert v5.build_id == release(world, shop, 3).build_id
    assert v5.config == {"A": "1"}
    assert v5.description == "Rollback to v3"
    assert app_config(world, shop) == {"A": "1"}
    [web] = world.runtime.of(shop, "web")
    assert web.release == 5
    assert world.runtime.spec_of(web).env == {"A": "1"}


def test_rollback_to_a_named_version_uses_that_build_and_config(
    world: World, shop: str, alice: User
) -> None:
    deploy(world.platform, shop, "img:1")
    set_config(world.platform, alice, shop, {"A": "1"})
    deploy(world.platform, shop, "img:2")

    assert rollback(world.platform, alice, shop, 1) == (1, 4)

    [web] = world.runtime.of(shop, "web")
    spec = world.runtime.spec_of(web)
    assert (spec.image, spec.env) == ("img:1", {})
    assert versions(world, shop) == [1, 2, 3, 4]


def test_rollback_skips_failed_releases(world: World, shop: str, alice: User) -> None:
    deploy(world.platform, shop, "img:1")  # v1
    world.runtime.unhealthy_images.add("img:2")
    with pytest.raises(DeployFailed):
        deploy(world.platform, shop, "img:2")  # v2 failed
    deploy(world.platform, shop, "img:3")  # v3

    assert rollback(world.platform, alice, shop, None) == (1, 4)


def test_rollback_without_an_earlier_release_is_rejected(
    world: World, shop: str, alice: User
) -> None:
    with pytest.raises(InvalidInput, match="deploy it first"):
        rollback(world.platform, alice, shop, None)
    deploy(world.platform, shop, "img:1")
    with pytest.raises(InvalidInput, match="no earlier successful release"):
        rollback(world.platform, alice, shop, None)


def test_rollback_to_an_unknown_version_is_not_found(
    world: World, shop: str, alice: User
) -> None:
    deploy(world.platform, shop, "img:1")
    with pytest.raises(NotFound, match="no release v9"):
        rollback(world.platform, alice, shop, 9)


def test_rollback_to_a_release_before_the_first_deploy_is_rejected(
    world: World, shop: str, alice: User
) -> None:
    set_config(world.platform, alice, shop, {"A": "1"})  # v1, no build
    deploy(world.platform, shop, "img:1")  # v2
    with pytest.raises(InvalidInput, match="v1 has no build"):
        rollback(world.platform, alice, shop, 1)
