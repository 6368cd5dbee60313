"""Scaling, resizing and restarting process types."""

from __future__ import annotations

import pytest
from tests.unit.fakes import World, deploy

from xae.auth.policy import Principal
from xae.control.apps import get_app
from xae.control.formation import FormationChange, change, formations, restart
from xae.errors import DeployFailed, InvalidInput, NotFound


def quantities(world: World, name: str) -> dict[str, int]:
    with world.db.session() as session:
        return {f.process_type: f.quantity for f in formations(session, get_app(session, name))}


@pytest.fixture
def deployed(world: World, shop: str) -> str:
    deploy(world.platform, shop, "img:1")
    world.events.clear()
    return shop


def test_a_deploy_gives_web_one_instance_and_other_types_none(world: World, deployed: str) -> None:
    assert quantities(world, deployed) == {"web": 1, "worker": 0}


def test_scaling_up_starts_instances_and_routes_to_every_web(
    world: World, deployed: str, alice: Principal
) -> None:
    change(
        world.platform,
        alice,
        deployed,
        [FormationChange("web", quantity=3), FormationChange("worker", quantity=2)],
    )

    web = world.runtime.of(deployed, "web")
    assert len(web) == 3
    assert len(world.runtime.of(deployed, "worker")) == 2
    assert world.router.served() == {deployed: sorted(f"{i.address}:{i.port}" for i in web)}
    assert quantities(world, deployed) == {"web": 3, "worker": 2}
    assert "stop" not in world.events.kinds()


def test_scaling_down_routes_away_from_instances_before_stopping_them(
    world: World, deployed: str, alice: Principal
) -> None:
    change(world.platform, alice, deployed, [FormationChange("web", quantity=3)])
    world.events.clear()

    change(world.platform, alice, deployed, [FormationChange("web", quantity=1)])

    [kept] = world.runtime.of(deployed, "web")
    assert world.router.served() == {deployed: [f"{kept.address}:{kept.port}"]}
    assert world.events.kinds() == ["route", "stop", "stop"]


def test_scaling_web_to_zero_leaves_an_empty_route(
    world: World, deployed: str, alice: Principal
) -> None:
    change(world.platform, alice, deployed, [FormationChange("web", quantity=0)])
    assert world.runtime.of(deployed) == []
    assert world.router.served() == {deployed: []}


def test_worker_instances_are_never_routed(world: World, deployed: str, alice: Principal) -> None:
    change(world.platform, alice, deployed, [FormationChange("worker", quantity=1)])
    [worker] = world.runtime.of(deployed, "worker")
    [web] = world.runtime.of(deployed, "web")
    assert worker.port is None
    assert world.router.served() == {deployed: [f"{web.address}:{web.port}"]}


def test_an_unknown_process_type_is_rejected_naming_the_known_ones(
    world: World, deployed: str, alice: Principal
) -> None:
    with pytest.raises(InvalidInput) as caught:
        change(world.platform, alice, deployed, [FormationChange("clock", quantity=1)])
    assert "'clock'" in caught.value.message
    assert "web, worker" in caught.value.message
    assert world.events.items == []


def test_a_bad_change_applies_none_of_the_changes_in_the_request(
    world: World, deployed: str, alice: Principal
) -> None:
    with pytest.raises(InvalidInput):
        change(
            world.platform,
            alice,
            deployed,
            [FormationChange("web", quantity=4), FormationChange("clock", quantity=1)],
        )
    assert quantities(world, deployed) == {"web": 1, "worker": 0}


@pytest.mark.parametrize(
    ("quantity", "message"),
    [(-1, "0 or more"), (101, "would run 101 instances .*the maximum is 100 per app")],
)
def test_a_quantity_out_of_range_is_rejected(
    world: World, deployed: str, alice: Principal, quantity: int, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        change(world.platform, alice, deployed, [FormationChange("web", quantity=quantity)])


def test_no_changes_is_rejected_with_an_example(
    world: World, deployed: str, alice: Principal
) -> None:
    with pytest.raises(InvalidInput, match="ps:scale web=2"):
        change(world.platform, alice, deployed, [])


def test_scaling_an_app_that_was_never_deployed_says_to_deploy(
    world: World, shop: str, alice: Principal
) -> None:
    with pytest.raises(InvalidInput, match="has not been deployed yet"):
        change(world.platform, alice, shop, [FormationChange("web", quantity=2)])


def test_scaling_an_unknown_app_is_not_found(world: World, alice: Principal) -> None:
    with pytest.raises(NotFound, match="'nope' does not exist"):
        change(world.platform, alice, "nope", [FormationChange("web", quantity=2)])


def test_a_memory_change_replaces_instances_with_the_new_limit(
    world: World, deployed: str, alice: Principal
) -> None:
    [old] = world.runtime.of(deployed, "web")
    change(world.platform, alice, deployed, [FormationChange("web", memory="256M", cpus=0.5)])
    [new] = world.runtime.of(deployed, "web")
    assert new.id != old.id
    assert (new.memory_bytes, new.cpus) == (256 * 1024**2, 0.5)


def test_bad_limits_are_rejected(world: World, deployed: str, alice: Principal) -> None:
    with pytest.raises(InvalidInput, match="256M"):
        change(world.platform, alice, deployed, [FormationChange("web", memory="lots")])
    with pytest.raises(InvalidInput, match="0.01 and 64"):
        change(world.platform, alice, deployed, [FormationChange("web", cpus=100)])


def test_scaling_up_with_instances_that_never_get_healthy_fails(
    world: World, deployed: str, alice: Principal
) -> None:
    [web] = world.runtime.of(deployed, "web")
    world.runtime.unhealthy_images.add("img:1")
    with pytest.raises(DeployFailed):
        change(world.platform, alice, deployed, [FormationChange("web", quantity=2)])
    assert world.runtime.of(deployed) == [web]
    assert world.router.served() == {deployed: [f"{web.address}:{web.port}"]}


def test_restarting_one_type_replaces_only_its_instances(
    world: World, deployed: str, alice: Principal
) -> None:
    change(world.platform, alice, deployed, [FormationChange("worker", quantity=1)])
    [web] = world.runtime.of(deployed, "web")
    [worker] = world.runtime.of(deployed, "worker")

    restart(world.platform, alice, deployed, "web")

    [new_web] = world.runtime.of(deployed, "web")
    assert new_web.id != web.id
    assert world.runtime.of(deployed, "worker") == [worker]


def test_restarting_everything_replaces_every_instance(
    world: World, deployed: str, alice: Principal
) -> None:
    change(world.platform, alice, deployed, [FormationChange("worker", quantity=1)])
    before = {i.id for i in world.runtime.of(deployed)}
    restart(world.platform, alice, deployed, None)
    after = {i.id for i in world.runtime.of(deployed)}
    assert len(after) == 2 and not before & after


def test_restarting_an_unknown_type_is_rejected(
    world: World, deployed: str, alice: Principal
) -> None:
    with pytest.raises(InvalidInput, match="no process type 'clock'"):
        restart(world.platform, alice, deployed, "clock")


def test_a_read_only_filesystem_is_stored_and_rolls_the_process_out(
    world: World, deployed: str, alice: Principal
) -> None:
    [before] = world.runtime.of(deployed, "web")

    change(world.platform, alice, deployed, [FormationChange("web", read_only=True)])

    [after] = world.runtime.of(deployed, "web")
    assert after.id != before.id
    assert world.runtime.specs[after.id].read_only is True
    with world.db.session() as session:
        rows = {
            f.process_type: f.read_only for f in formations(session, get_app(session, deployed))
        }
    assert rows == {"web": True, "worker": False}

    change(world.platform, alice, deployed, [FormationChange("web", read_only=False)])
    [writable] = world.runtime.of(deployed, "web")
    assert world.runtime.specs[writable.id].read_only is False
