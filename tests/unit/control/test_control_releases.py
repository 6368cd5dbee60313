"""Releases: deploys of finished builds, config changes and rollbacks each make a new release
and roll it out."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.unit.fakes import World, deploy

from xae.auth.policy import Principal
from xae.control.apps import create_app, get_app
from xae.control.configvars import open_config
from xae.control.formation import formations
from xae.control.releases import get_release, release_build, rollback, set_config
from xae.domain.states import BuildStatus
from xae.errors import DeployFailed, InvalidInput, InvalidName, NotFound
from xae.store.models import Build, Event, Release


def release(world: World, name: str, version: int) -> Release:
    with world.db.session() as session:
        return get_release(session, get_app(session, name), version)


def app_config(world: World, name: str) -> dict[str, str]:
    with world.db.session() as session:
        return open_config(world.platform.vault, get_app(session, name))


def versions(world: World, name: str) -> list[int]:
    with world.db.session() as session:
        app = get_app(session, name)
        return list(
            session.scalars(
                select(Release.version).where(Release.app_id == app.id).order_by(Release.version)
            )
        )


def test_setting_config_makes_a_new_release_that_instances_run_with(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    [old] = world.runtime.of(shop, "web")

    version = set_config(world.platform, alice, shop, {"DATABASE_URL": "postgres://db/shop"})

    assert version == 2
    new = release(world, shop, 2)
    assert open_config(world.platform.vault, new) == {"DATABASE_URL": "postgres://db/shop"}
    assert new.build_id == release(world, shop, 1).build_id
    assert new.status == "succeeded"
    assert new.created_by == "alice"
    assert app_config(world, shop) == {"DATABASE_URL": "postgres://db/shop"}
    [web] = world.runtime.of(shop, "web")
    assert web.id != old.id
    assert world.runtime.spec_of(web).env == {"DATABASE_URL": "postgres://db/shop"}


def test_a_config_release_describes_the_keys_as_written(
    world: World, shop: str, alice: Principal
) -> None:
    set_config(world.platform, alice, shop, {"DATABASE_URL": "x", "API_KEY": "y"})
    set_config(world.platform, alice, shop, {"API_KEY": None})
    assert release(world, shop, 1).description == "Set API_KEY, DATABASE_URL"
    assert release(world, shop, 2).description == "Unset API_KEY"


def test_unsetting_a_key_removes_it_and_keeps_the_others(
    world: World, shop: str, alice: Principal
) -> None:
    set_config(world.platform, alice, shop, {"A": "1", "B": "2"})
    set_config(world.platform, alice, shop, {"A": None, "C": "3"})
    assert app_config(world, shop) == {"B": "2", "C": "3"}
    assert release(world, shop, 1).config_keys == ["A", "B"]  # old releases are immutable


def test_config_on_an_undeployed_app_is_kept_for_its_first_deploy(
    world: World, shop: str, alice: Principal
) -> None:
    assert set_config(world.platform, alice, shop, {"A": "1"}) == 1
    assert world.runtime.of(shop) == []

    deploy(world.platform, shop, "img:1")

    [web] = world.runtime.of(shop, "web")
    assert world.runtime.spec_of(web).env == {"A": "1"}


@pytest.mark.parametrize("key", ["PORT", "XAE_APP", "1BAD", "BAD-KEY"])
def test_reserved_or_invalid_keys_make_no_release(
    world: World, shop: str, alice: Principal, key: str
) -> None:
    with pytest.raises(InvalidName):
        set_config(world.platform, alice, shop, {key: "1"})
    assert versions(world, shop) == []


def test_an_empty_config_change_is_rejected(world: World, shop: str, alice: Principal) -> None:
    with pytest.raises(InvalidInput, match="config:set KEY=VALUE"):
        set_config(world.platform, alice, shop, {})


def test_a_value_over_32k_is_rejected_without_echoing_it(
    world: World, shop: str, alice: Principal
) -> None:
    with pytest.raises(InvalidInput) as caught:
        set_config(world.platform, alice, shop, {"BIG": "s" * 40000})
    assert "BIG" in caught.value.message
    assert "sss" not in caught.value.message


def test_a_config_change_that_breaks_the_app_keeps_the_old_config_serving(
    world: World, shop: str, alice: Principal
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
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")  # v1
    set_config(world.platform, alice, shop, {"A": "1"})  # v2
    deploy(world.platform, shop, "img:2")  # v3: img:2 with A=1
    set_config(world.platform, alice, shop, {"A": "2"})  # v4

    target, new = rollback(world.platform, alice, shop, None)

    assert (target, new) == (3, 5)
    v5 = release(world, shop, 5)
    assert v5.build_id == release(world, shop, 3).build_id
    assert open_config(world.platform.vault, v5) == {"A": "1"}
    assert v5.description == "Rollback to v3"
    assert app_config(world, shop) == {"A": "1"}
    [web] = world.runtime.of(shop, "web")
    assert web.release == 5
    assert world.runtime.spec_of(web).env == {"A": "1"}


def test_rollback_to_a_named_version_uses_that_build_and_config(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    set_config(world.platform, alice, shop, {"A": "1"})
    deploy(world.platform, shop, "img:2")

    assert rollback(world.platform, alice, shop, 1) == (1, 4)

    [web] = world.runtime.of(shop, "web")
    spec = world.runtime.spec_of(web)
    assert (spec.image, spec.env) == ("img:1", {})
    assert versions(world, shop) == [1, 2, 3, 4]


def test_rollback_skips_failed_releases(world: World, shop: str, alice: Principal) -> None:
    deploy(world.platform, shop, "img:1")  # v1
    world.runtime.unhealthy_images.add("img:2")
    with pytest.raises(DeployFailed):
        deploy(world.platform, shop, "img:2")  # v2 failed
    deploy(world.platform, shop, "img:3")  # v3

    assert rollback(world.platform, alice, shop, None) == (1, 4)


def test_rollback_without_an_earlier_release_is_rejected(
    world: World, shop: str, alice: Principal
) -> None:
    with pytest.raises(InvalidInput, match="deploy it first"):
        rollback(world.platform, alice, shop, None)
    deploy(world.platform, shop, "img:1")
    with pytest.raises(InvalidInput, match="no earlier successful release"):
        rollback(world.platform, alice, shop, None)


def test_rollback_to_an_unknown_version_is_not_found(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    with pytest.raises(NotFound, match="no release v9"):
        rollback(world.platform, alice, shop, 9)


def test_rollback_to_a_release_before_the_first_deploy_is_rejected(
    world: World, shop: str, alice: Principal
) -> None:
    set_config(world.platform, alice, shop, {"A": "1"})  # v1, no build
    deploy(world.platform, shop, "img:1")  # v2
    with pytest.raises(InvalidInput, match="v1 has no build"):
        rollback(world.platform, alice, shop, 1)


def finished_build(world: World, name: str, image: str) -> int:
    """A succeeded build row, as the Code Center leaves it: no formation rows yet."""
    with world.db.session() as session:
        build = Build(
            app_id=get_app(session, name).id,
            status="succeeded",
            image=image,
            processes={"web": "python app.py", "worker": "python worker.py"},
        )
        session.add(build)
        session.flush()
        return build.id


def test_a_finished_build_becomes_the_next_release_with_the_current_config(
    world: World, shop: str, alice: Principal
) -> None:
    set_config(world.platform, alice, shop, {"GREETING": "hi"})  # v1, no build
    build_id = finished_build(world, shop, "img:2")
    steps: list[str] = []

    version = release_build(
        world.platform, "alice", shop, build_id, "Deploy build 7 (python)", steps.append
    )

    assert version == 2
    assert steps[0] == "releasing v2"
    made = release(world, shop, 2)
    assert (made.status, made.build_id) == ("succeeded", build_id)
    assert open_config(world.platform.vault, made) == {"GREETING": "hi"}
    assert (made.description, made.created_by) == ("Deploy build 7 (python)", "alice")
    with world.db.session() as session:
        app = get_app(session, shop)
        assert app.current_release_id == made.id
        assert {f.process_type: f.quantity for f in formations(session, app)} == {
            "web": 1,
            "worker": 0,
        }
        rolled = session.scalars(
            select(Event).where(Event.action == "release.rollout").order_by(Event.id.desc())
        ).first()
        assert rolled is not None
        assert (rolled.actor, rolled.result, rolled.details) == ("alice", "ok", {"version": 2})
    [web] = world.runtime.of(shop, "web")
    assert (world.runtime.spec_of(web).image, world.runtime.spec_of(web).env) == (
        "img:2",
        {"GREETING": "hi"},
    )


def test_a_build_whose_rollout_fails_is_a_failed_release_and_the_old_one_keeps_serving(
    world: World, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    world.runtime.failing_images.add("img:bad")
    build_id = finished_build(world, shop, "img:bad")

    with pytest.raises(DeployFailed):
        release_build(world.platform, "alice", shop, build_id, "Deploy build 2 (python)")

    assert release(world, shop, 2).status == "failed"
    with world.db.session() as session:
        assert get_app(session, shop).current_release.version == 1  # type: ignore[union-attr]


def test_another_apps_build_is_never_released(world: World, shop: str, alice: Principal) -> None:
    create_app(world.platform, alice, "bank")
    bank_build = finished_build(world, "bank", "xae/app-bank:b1")

    with pytest.raises(NotFound, match="'shop' does not exist, or is not yours"):
        release_build(world.platform, "alice", shop, bank_build, "Deploy")

    assert versions(world, shop) == []


def test_a_build_that_did_not_succeed_is_never_released(world: World, shop: str) -> None:
    build_id = finished_build(world, shop, "img:1")
    with world.db.session() as session:
        build = session.get(Build, build_id)
        assert build is not None
        build.status = BuildStatus.FAILED

    with pytest.raises(InvalidInput, match="did not succeed"):
        release_build(world.platform, "alice", shop, build_id, "Deploy")

    assert versions(world, shop) == []
