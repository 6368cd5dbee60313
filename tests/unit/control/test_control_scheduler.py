"""The per-app scheduler: one pass per app at a time, and a slow app delays only itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from xae.control import scheduler as scheduler_module
from xae.control.scheduler import AppScheduler

WAIT = 5.0


def poked(scheduler: AppScheduler) -> bool:
    """Poke `scheduler` (as the reconciler's tick does) inside a polled condition."""
    scheduler.poke()
    return True


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.005)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of each test so no blocked task outlives it."""
    event = threading.Event()
    yield event
    event.set()


def make(workers: int = 1, max_workers: int = 4, deadline: float = 0.05) -> AppScheduler:
    return AppScheduler(workers=workers, max_workers=max_workers, deadline=deadline)


def test_an_app_with_a_pass_queued_or_running_is_not_queued_again(
    release: threading.Event,
) -> None:
    scheduler = make(deadline=60)
    runs: list[str] = []

    def slow() -> None:
        runs.append("slow")
        release.wait(WAIT)

    assert scheduler.submit("s", slow) is True
    wait_until(lambda: "s" in scheduler.running(), "the first pass to run")
    assert scheduler.submit("s", slow) is False
    release.set()
    assert scheduler.wait_idle(WAIT)
    assert runs == ["slow"]
    assert scheduler.submit("s", slow) is True
    assert scheduler.wait_idle(WAIT)
    assert runs == ["slow", "slow"]
    scheduler.stop()


def test_a_pass_past_its_deadline_does_not_delay_another_app(release: threading.Event) -> None:
    scheduler = make(workers=1, deadline=0.05)
    healed = threading.Event()
    scheduler.submit("slow", lambda: release.wait(WAIT) and None)
    wait_until(lambda: "slow" in scheduler.running(), "the slow pass to start")

    started = time.monotonic()
    scheduler.submit("healthy", healed.set)
    while not healed.is_set() and time.monotonic() - started < WAIT:
        scheduler.poke()  # the reconciler's tick
        time.sleep(0.01)

    assert healed.is_set()
    assert time.monotonic() - started < 1.0
    assert set(scheduler.overdue()) == {"slow"}
    scheduler.stop(timeout=0.1)


def test_passes_within_their_deadline_share_the_workers(release: threading.Event) -> None:
    scheduler = make(workers=2, max_workers=8, deadline=60)
    scheduler.submit("a", lambda: release.wait(WAIT) and None)
    scheduler.submit("b", lambda: release.wait(WAIT) and None)
    scheduler.submit("c", lambda: None)
    wait_until(lambda: set(scheduler.running()) == {"a", "b"}, "two passes to run")
    scheduler.poke()

    assert scheduler.queued() == ["c"]  # waits for a slot: a and b are within their deadline
    assert scheduler.threads == 2
    release.set()
    assert scheduler.wait_idle(WAIT)
    scheduler.stop()


def test_slow_passes_never_take_more_than_the_hard_cap_of_threads(
    release: threading.Event,
) -> None:
    scheduler = make(workers=1, max_workers=3, deadline=0.0)
    for n in range(10):
        scheduler.submit(f"slow{n}", lambda: release.wait(WAIT) and None)
    # The reconciler's tick pokes the scheduler: passes past their deadline free their slot.
    wait_until(lambda: poked(scheduler) and len(scheduler.running()) == 3, "three slow passes")
    scheduler.poke()

    assert scheduler.threads == 3
    assert len(scheduler.queued()) == 7
    release.set()
    assert scheduler.wait_idle(WAIT)
    scheduler.stop()


def test_a_pass_that_raises_does_not_end_its_worker() -> None:
    scheduler = make(workers=1, max_workers=1)
    done = threading.Event()

    def boom() -> None:
        raise RuntimeError("bug in a pass")

    scheduler.submit("bad", boom)
    assert scheduler.wait_idle(WAIT)
    scheduler.submit("good", done.set)
    assert scheduler.wait_idle(WAIT)
    assert done.is_set()
    scheduler.stop()


def test_extra_workers_end_once_idle(
    release: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler_module, "IDLE_EXIT", 0.05)
    scheduler = make(workers=1, max_workers=4, deadline=0.0)
    for n in range(3):
        scheduler.submit(f"s{n}", lambda: release.wait(WAIT) and None)
    wait_until(lambda: poked(scheduler) and scheduler.threads == 3, "three workers")
    release.set()
    assert scheduler.wait_idle(WAIT)
    wait_until(lambda: scheduler.threads == 1, "the extra workers to end")
    scheduler.stop()
