"""Weighted splits through the services on a fake runtime and router: which instances run, what
the router is given, and that a bad split or a failed start changes nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select
from tests.unit.fakes import World, deploy

from xae.auth.policy import Principal
from xae.control import splits
from xae.control.apps import get_app
from xae.control.formation import FormationChange, change
from xae.domain.splits import Share
from xae.errors import DeployFailed, InvalidInput, NotFound
from xae.router.base import Route
from xae.runtime.base import Instance
from xae.store.models import Event


def upstream(instance: Instance) -> str:
    return f"{instance.address}:{instance.port}"


def route_of(world: World, app: str) -> Route:
    [route] = [r for r in world.router.applied[-1] if r.app == app]
    return route


def web_by_release(world: World, app: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for i in world.runtime.of(app, "web"):
        out.setdefault(i.release, []).append(upstream(i))
    return {r: sorted(u) for r, u in out.items()}


def stored_split(world: World, app: str) -> tuple[Any, bool]:
    with world.db.session() as session:
        row = get_app(session, app)
        return (row.split, row.split_sticky)


def actions(world: World, app: str) -> list[tuple[str, str]]:
    with world.db.session() as session:
        rows = session.scalars(select(Event).where(Event.app == app).order_by(Event.id))
        return [(e.action, e.result) for e in rows if e.action.startswith("routes.")]


@pytest.fixture
def two_releases(world: World, shop: str) -> str:
    deploy(world.platform, shop, "img:1")
    deploy(world.platform, shop, "img:2")
    return shop


def test_a_split_runs_each_release_and_routes_by_weight(
    world: World, alice: Principal, two_releases: str
) -> None:
    shop = two_releases
    splits.set_split(world.platform, alice, shop, [Share(2, 90), Share(1, 10)], sticky=True)

    running = web_by_release(world, shop)
    assert set(running) == {1, 2}
    route = route_of(world, shop)
    assert [(b.release, b.weight, b.upstreams) for b in route.backends] == [
        ("v2", 90, running[2]),
        ("v1", 10, running[1]),
    ]
    assert route.sticky
    assert stored_split(world, shop) == (
        [{"version": 2, "weight": 90}, {"version": 1, "weight": 10}],
        True,
    )
    assert actions(world, shop) == [("routes.split", "ok")]


def test_a_release_with_weight_0_runs_no_instance(
    world: World, alice: Principal, two_releases: str
) -> None:
    splits.set_split(world.platform, alice, two_releases, [Share(2, 100), Share(1, 0)])

    assert set(web_by_release(world, two_releases)) == {2}
    assert [b.release for b in route_of(world, two_releases).backends] == ["v2"]


def test_each_release_runs_the_apps_web_quantity(
    world: World, alice: Principal, two_releases: str
) -> None:
    change(world.platform, alice, two_releases, [FormationChange("web", quantity=2)])
    splits.set_split(world.platform, alice, two_releases, [Share(2, 50), Share(1, 50)])

    assert {r: len(u) for r, u in web_by_release(world, two_releases).items()} == {1: 2, 2: 2}


def test_clearing_routes_everything_to_the_current_release_and_drains_the_others(
    world: World, alice: Principal, two_releases: str
) -> None:
    splits.set_split(world.platform, alice, two_releases, [Share(2, 50), Share(1, 50)])
    assert splits.clear_split(world.platform, alice, two_releases)

    running = web_by_release(world, two_releases)
    assert set(running) == {2}
    route = route_of(world, two_releases)
    assert route.backends == [] and not route.sticky
    assert route.upstreams == running[2]
    assert stored_split(world, two_releases) == (None, False)
    assert not splits.clear_split(world.platform, alice, two_releases)


def test_a_deploy_ends_the_split_and_the_new_release_gets_every_request(
    world: World, alice: Principal, two_releases: str
) -> None:
    splits.set_split(world.platform, alice, two_releases, [Share(2, 50), Share(1, 50)])
    deploy(world.platform, two_releases, "img:3")

    running = web_by_release(world, two_releases)
    assert set(running) == {3}
    assert route_of(world, two_releases).backends == []
    assert route_of(world, two_releases).upstreams == running[3]
    assert stored_split(world, two_releases) == (None, False)
    assert actions(world, two_releases)[-1] == ("routes.unsplit", "ok")


def test_a_failed_deploy_keeps_the_split_serving(
    world: World, alice: Principal, two_releases: str
) -> None:
    splits.set_split(world.platform, alice, two_releases, [Share(2, 50), Share(1, 50)])
    before = route_of(world, two_releases)
    world.runtime.unhealthy_images.add("img:3")

    with pytest.raises(DeployFailed):
        deploy(world.platform, two_releases, "img:3")

    assert route_of(world, two_releases) == before
    assert set(web_by_release(world, two_releases)) == {1, 2}
    assert stored_split(world, two_releases)[0] is not None


@pytest.mark.parametrize(
    ("shares", "error", "message"),
    [
        ([Share(2, 90), Share(1, 20)], InvalidInput, r"add up to 110"),
        ([Share(2, 90), Share(9, 10)], NotFound, r"has no release v9"),
        ([Share(2, 100)], InvalidInput, r"2 to 5 releases"),
    ],
)
def test_a_bad_split_is_refused_and_nothing_changes(
    world: World,
    alice: Principal,
    two_releases: str,
    shares: list[Share],
    error: type[Exception],
    message: str,
) -> None:
    before = (world.router.applied[-1], world.runtime.of(two_releases))

    with pytest.raises(error, match=message):
        splits.set_split(world.platform, alice, two_releases, shares)

    assert (world.router.applied[-1], world.runtime.of(two_releases)) == before
    assert stored_split(world, two_releases) == (None, False)


def test_a_release_that_cannot_pass_its_health_check_is_refused_and_the_split_put_back(
    world: World, alice: Principal, two_releases: str
) -> None:
    [old] = world.runtime.of(two_releases, "web")
    world.runtime.unhealthy_images.add("img:1")
    before = world.router.applied[-1]

    with pytest.raises(DeployFailed, match=r"v1"):
        splits.set_split(world.platform, alice, two_releases, [Share(2, 50), Share(1, 50)])

    assert world.runtime.of(two_releases, "web") == [old]
    assert world.router.applied[-1] == before
    assert stored_split(world, two_releases) == (None, False)
    assert actions(world, two_releases) == [("routes.split", "failed")]


def test_the_plan_of_a_split_names_the_other_releases_web_and_the_weights(
    world: World, alice: Principal, two_releases: str
) -> None:
    splits.set_split(world.platform, alice, two_releases, [Share(1, 30), Share(2, 70)])

    with world.db.session() as session:
        plan = world.platform.plan(session, get_app(session, two_releases))
    assert plan is not None and plan.split is not None
    assert plan.release == 2
    assert plan.split.weights == ((1, 30), (2, 70))
    assert [(p.spec.release, p.spec.image, p.quantity) for p in plan.split.web] == [(1, "img:1", 1)]


def test_a_release_without_healthy_instances_gives_its_share_to_the_others() -> None:
    from xae.control.instances import split_route
    from xae.runtime.base import SplitPlan

    split = SplitPlan(weights=((1, 50), (2, 30), (3, 20)), sticky=False, web=())
    both = split_route(split, {1: ["a:1"], 2: [], 3: ["c:1"]})
    assert [(b.release, b.weight) for b in both.backends] == [("v1", 72), ("v3", 28)]
    assert split_route(split, {}).backends == ()
    full = split_route(split, {1: ["a:1"], 2: ["b:1"], 3: ["c:1"]})
    assert [(b.release, b.weight) for b in full.backends] == [("v1", 50), ("v2", 30), ("v3", 20)]


def test_the_instance_ceiling_counts_every_release_a_split_runs(
    world: World, alice: Principal, two_releases: str
) -> None:
    p = world.platform
    p.limits = replace(p.limits, instances=4)
    change(p, alice, two_releases, [FormationChange("web", quantity=3)])
    # Two releases × 3 web instances = 6 > 4: refused, nothing started, nothing stored.
    with pytest.raises(InvalidInput, match="would run 6 instances"):
        splits.set_split(p, alice, two_releases, [Share(2, 50), Share(1, 50)])
    assert stored_split(world, two_releases)[0] is None
    assert set(web_by_release(world, two_releases)) == {2}

    change(p, alice, two_releases, [FormationChange("web", quantity=2)])
    splits.set_split(p, alice, two_releases, [Share(2, 50), Share(1, 50)])
    # With the split on, scaling web to 3 would run 6 as well.
    with pytest.raises(InvalidInput, match="would run 6 instances"):
        change(p, alice, two_releases, [FormationChange("web", quantity=3)])
    assert {r: len(u) for r, u in web_by_release(world, two_releases).items()} == {1: 2, 2: 2}
