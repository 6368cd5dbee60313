"""Concurrent changes of one app: each is applied on top of the others, none is lost, none
crashes; a name created twice at once is created once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from sqlalchemy import select
from tests.unit.fakes import World, deploy

from xae.auth.policy import Principal
from xae.control.apps import create_app, get_app
from xae.control.configvars import open_config
from xae.control.formation import FormationChange, change
from xae.control.releases import rollback, set_config
from xae.errors import AlreadyExists
from xae.store.models import App, Release

T = TypeVar("T")


def at_once(count: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run `work(0..count-1)` in threads released together; results or raised errors."""
    barrier = threading.Barrier(count, timeout=30)

    def run(n: int) -> T | BaseException:
        barrier.wait()
        try:
            return work(n)
        except Exception as e:
            return e

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_parallel_config_changes_are_all_kept_in_the_current_release(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    keys = [f"KEY_{n}" for n in range(4)]

    def set_key(n: int, value: str) -> int:
        return set_config(world.platform, alice, shop, {keys[n]: value})

    for round_ in range(3):
        results = at_once(4, partial(set_key, value=str(round_)))

        assert all(isinstance(r, int) for r in results), results
        with world.db.session() as session:
            app = get_app(session, shop)
            config = open_config(world.platform.vault, app)
            assert config == {k: str(round_) for k in keys}
            assert app.current_release is not None
            assert open_config(world.platform.vault, app.current_release) == config
            assert app.current_release.version == max(r for r in results if isinstance(r, int))
    with world.db.session() as session:
        versions = list(session.scalars(select(Release.version).order_by(Release.version)))
    assert versions == list(range(1, 14))  # the deploy, then 12 changes, none lost
    [web] = world.runtime.of(shop, "web")
    assert world.runtime.spec_of(web).env == {k: "2" for k in keys}


def test_config_changes_scales_and_rollbacks_at_once_each_get_their_own_version(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    deploy(world.platform, shop, "img:2")
    jobs: list[Callable[[], object]] = [
        lambda: set_config(world.platform, alice, shop, {"A": "1"}),
        lambda: rollback(world.platform, alice, shop, 1),
        lambda: change(world.platform, alice, shop, [FormationChange("worker", quantity=1)]),
        lambda: set_config(world.platform, alice, shop, {"B": "2"}),
    ]
    results = at_once(len(jobs), lambda n: jobs[n]())
    assert not [r for r in results if isinstance(r, BaseException)]
    with world.db.session() as session:
        versions = list(session.scalars(select(Release.version).order_by(Release.version)))
    assert versions == [1, 2, 3, 4, 5]  # two deploys, then three releases of their own


def test_creating_one_name_eight_times_at_once_creates_it_once(
    world: World, alice: Principal
) -> None:
    results = at_once(8, lambda _: create_app(world.platform, alice, "race"))

    assert results.count(None) == 1
    errors = [r for r in results if r is not None]
    assert len(errors) == 7
    assert all(isinstance(e, AlreadyExists) for e in errors), errors
    with world.db.session() as session:
        assert session.scalars(select(App.name)).all() == ["race"]


def test_one_apps_change_does_not_wait_for_another_apps_lock(
    world: World, alice: Principal
) -> None:
    for name in ("one", "two"):
        create_app(world.platform, alice, name)
    with world.platform.change("one"):
        # another app's change completes while "one" is held
        assert set_config(world.platform, alice, "two", {"A": "1"}) == 1
