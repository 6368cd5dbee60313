"""Failing apps back off: retried less and less often by the background reconciler, longer after
a permanent error, and at once when their desired state changes or a pass succeeds.

The clock is fake (a list the test moves), so no test sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.unit.fakes import World, deploy

from xae.control.apps import HealthSettings, update_app
from xae.control.backoff import UNKNOWN, RetrySchedule
from xae.control.formation import FormationChange, change
from xae.control.platform import Platform
from xae.control.reconciler import Reconciler
from xae.control.releases import set_config
from xae.domain.backoff import Backoff
from xae.errors import InvalidInput


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def reconciler(world: World, clock: Clock) -> Iterator[Reconciler]:
    reconciler = Reconciler(world.platform, clock=clock, rand=lambda: 0.0)
    yield reconciler
    reconciler.scheduler.stop()


def starts(world: World, app: str) -> int:
    return sum(1 for e in world.events.items if e[0] == "start_failed" and e[1] == app)


def failing(world: World, app: str) -> None:
    """Deploy `app`, then kill its instance and make its image fail to start."""
    deploy(world.platform, app, "img:1")
    [web] = world.runtime.of(app)
    world.runtime.kill(web.id)
    world.runtime.failing_images.add("img:1")


# -- the schedule on its own --------------------------------------------------------------


def schedule(clock: Clock) -> RetrySchedule:
    return RetrySchedule(
        Backoff(first=2, cap=10, jitter=0), Backoff(first=2, cap=100, jitter=0), clock=clock
    )


def test_an_app_is_due_again_only_after_its_growing_wait(clock: Clock) -> None:
    s = schedule(clock)
    waits = []
    for _ in range(5):
        retry = s.failed("shop", temporary=True, fingerprint="v1")
        assert not s.due("shop", lambda: "v1")
        clock.now += retry.delay - 0.01
        assert not s.due("shop", lambda: "v1")
        clock.now += 0.01
        assert s.due("shop", lambda: "v1")
        waits.append(retry.delay)
    assert waits == [2, 4, 8, 10, 10]
    assert s.get("shop") is not None and s.get("shop").failures == 5  # type: ignore[union-attr]


def test_a_permanent_error_waits_up_to_the_longer_cap(clock: Clock) -> None:
    s = schedule(clock)
    delays = [s.failed("shop", temporary=False, fingerprint="v1").delay for _ in range(8)]
    assert delays[-1] == 100


def test_a_changed_desired_state_is_due_at_once_and_starts_the_backoff_over(clock: Clock) -> None:
    s = schedule(clock)
    for _ in range(4):
        s.failed("shop", temporary=True, fingerprint="v1")
    assert s.due("shop", lambda: "v2")
    assert s.get("shop") is None
    assert s.failed("shop", temporary=True, fingerprint="v2").delay == 2


def test_an_unreadable_desired_state_keeps_the_wait(clock: Clock) -> None:
    s = schedule(clock)
    s.failed("shop", temporary=True, fingerprint="v1")
    assert not s.due("shop", lambda: UNKNOWN)


def test_a_success_ends_the_backoff(clock: Clock) -> None:
    s = schedule(clock)
    s.failed("shop", temporary=True, fingerprint="v1")
    s.succeeded("shop")
    assert s.due("shop", lambda: "v1") and s.retry_in("shop") is None


# -- the reconciler -----------------------------------------------------------------------


def test_a_failing_app_is_retried_less_and_less_often(
    world: World, shop: str, clock: Clock, reconciler: Reconciler
) -> None:
    failing(world, shop)
    tried_at: list[float] = []
    for _ in range(400):  # 400 ticks of 0.5 s: 200 s of fake time
        before = starts(world, shop)
        reconciler.run_once(timeout=5)
        if starts(world, shop) > before:
            tried_at.append(clock.now)
        clock.now += 0.5
    gaps = [b - a for a, b in zip(tried_at, tried_at[1:], strict=False)]
    # Without backoff that would be 400 tries; with it the gaps double: 2, 4, 8, 16, 32, 64.
    assert len(tried_at) == 7
    assert gaps == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    failure = reconciler.failures()[shop]
    assert failure.passes == 7 and failure.temporary and failure.retry_at is not None


def test_a_temporary_failure_waits_at_most_the_configured_cap(
    world: World, shop: str, clock: Clock
) -> None:
    world.platform.settings.reconcile_backoff_max = 5.0
    reconciler = Reconciler(world.platform, clock=clock, rand=lambda: 0.0)
    failing(world, shop)
    for _ in range(6):
        reconciler.run_once(timeout=5)
        clock.now += 100
    assert reconciler.retries.get(shop).delay == 5.0  # type: ignore[union-attr]


def test_a_permanent_error_backs_off_longer_than_a_temporary_one(
    world: World,
    shop: str,
    clock: Clock,
    reconciler: Reconciler,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deploy(world.platform, shop, "img:1")

    def refuse(*args: object, **kwargs: object) -> bool:
        raise InvalidInput("the stored Procfile is invalid: deploy again")

    monkeypatch.setattr(Platform, "converge_app", refuse)
    for _ in range(12):
        reconciler.run_once(timeout=5)
        clock.now += 10_000
    retry = reconciler.retries.get(shop)
    assert retry is not None and not retry.temporary
    assert retry.delay == world.platform.settings.reconcile_backoff_permanent_max == 1800
    assert reconciler.failures()[shop].temporary is False


@pytest.mark.parametrize("what", ["scale", "config", "health check", "deploy"])
def test_a_change_of_the_app_is_tried_at_once_despite_the_backoff(
    world: World, shop: str, clock: Clock, reconciler: Reconciler, what: str
) -> None:
    failing(world, shop)
    for _ in range(5):  # deep in its backoff: the next pass is 32 s away
        reconciler.run_once(timeout=5)
        clock.now += 100
    reconciler.run_once(timeout=5)
    before = starts(world, shop)
    reconciler.run_once(timeout=5)
    assert starts(world, shop) == before  # still waiting

    user = world.user("alice")
    world.runtime.failing_images.clear()
    if what == "scale":
        change(world.platform, user, shop, [FormationChange("web", quantity=2)])
    elif what == "config":
        set_config(world.platform, user, shop, {"GREETING": "hi"})
    elif what == "health check":
        # Stored only: the background pass is what rolls it out.
        update_app(world.platform, user, shop, HealthSettings(path="/up"))
    else:
        deploy(world.platform, shop, "img:2")

    reconciler.run_once(timeout=5)  # no time passed: only the change makes it due
    assert shop not in reconciler.failures()
    assert reconciler.retries.get(shop) is None
    assert any(i.running for i in world.runtime.of(shop))
