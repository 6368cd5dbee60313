"""The build queue's rules, without threads where possible: the limit, per-app order through
the rollout, fairness between apps, and cancelling a waiting or a running build."""

from __future__ import annotations

import threading

import pytest

from xae.codecenter.queue import BuildQueue, CancelOutcome, Ticket, TicketState
from xae.errors import BuildCancelled


def states(queue: BuildQueue) -> dict[int, str]:
    return {build: str(state) for build, _, state in queue.snapshot()}


def run_to_end(queue: BuildQueue, ticket: Ticket) -> None:
    queue.built(ticket)
    queue.finish(ticket)


def test_no_more_builds_run_at_once_than_the_limit() -> None:
    queue = BuildQueue(limit=2)
    tickets = [queue.submit(f"app{n}", n) for n in range(1, 5)]
    assert states(queue) == {1: "building", 2: "building", 3: "waiting", 4: "waiting"}
    run_to_end(queue, tickets[0])
    assert states(queue) == {2: "building", 3: "building", 4: "waiting"}


def test_an_apps_next_deploy_waits_for_the_previous_ones_build_and_rollout() -> None:
    queue = BuildQueue(limit=3)
    first = queue.submit("shop", 1)
    second = queue.submit("shop", 2)
    assert (first.state, second.state) == (TicketState.BUILDING, TicketState.WAITING)
    queue.built(first)  # built, now rolling out: a slot is free, but not for the same app
    assert (first.state, second.state) == (TicketState.RELEASING, TicketState.WAITING)
    queue.finish(first)
    assert second.state == TicketState.BUILDING


def test_builds_of_one_app_start_in_the_order_they_came() -> None:
    queue = BuildQueue(limit=1)
    tickets = [queue.submit("shop", n) for n in range(1, 5)]
    started = []
    for _ in tickets:
        [running] = [t for t in tickets if t.state == TicketState.BUILDING]
        started.append(running.build_id)
        run_to_end(queue, running)
    assert started == [1, 2, 3, 4]


def test_a_busy_app_does_not_starve_the_others() -> None:
    """A asked for three builds before B and C asked for one each: B and C do not wait for
    all of A's, each app takes its turn."""
    queue = BuildQueue(limit=1)
    tickets = [queue.submit(app, n) for n, app in enumerate(["a", "a", "a", "b", "c"], start=1)]
    order = []
    for _ in tickets:
        [running] = [t for t in tickets if t.state == TicketState.BUILDING]
        order.append(f"{running.app}{running.build_id}")
        run_to_end(queue, running)
    assert order == ["a1", "b4", "c5", "a2", "a3"]


def test_a_waiting_deploy_says_what_it_waits_for() -> None:
    queue = BuildQueue(limit=1)
    queue.submit("x", 41)
    mine = queue.submit("y", 42)
    said: list[str] = []

    def wait() -> None:
        with pytest.raises(BuildCancelled):
            queue.wait(mine, said.append, poll=0.05)

    waiter = threading.Thread(target=wait)
    waiter.start()
    try:
        for _ in range(200):
            if said:
                break
            threading.Event().wait(0.01)
        assert said == ["queued: 1 build ahead of yours (build 41 of app x)"]
    finally:
        queue.cancel(42)
        waiter.join(5)


def test_a_cancelled_waiting_build_never_starts_and_its_deploy_is_told() -> None:
    queue = BuildQueue(limit=1)
    running = queue.submit("x", 1)
    waiting = queue.submit("y", 2)
    outcome, ticket = queue.cancel(2)
    assert (outcome, ticket) == (CancelOutcome.QUEUED, waiting)
    with pytest.raises(BuildCancelled, match="cancelled while it was queued"):
        queue.wait(waiting, lambda _: None)
    queue.finish(waiting)
    run_to_end(queue, running)
    assert waiting.state == TicketState.CANCELLED
    assert queue.snapshot() == []


def test_cancelling_a_running_build_pulls_its_switch_and_a_finished_one_is_too_late() -> None:
    queue = BuildQueue(limit=1)
    ticket = queue.submit("x", 1)
    stopped: list[str] = []
    ticket.cancellation.attach(lambda: stopped.append("stop"))
    assert queue.cancel(1)[0] == CancelOutcome.RUNNING
    assert stopped == ["stop"]
    assert ticket.cancellation.close()  # the build sees it was cancelled
    run_to_end(queue, ticket)

    other = queue.submit("y", 2)
    queue.built(other)  # rolling out
    assert queue.cancel(2)[0] == CancelOutcome.TOO_LATE
    assert queue.cancel(99)[0] == CancelOutcome.UNKNOWN


def test_a_build_that_closed_its_switch_cannot_be_cancelled_any_more() -> None:
    queue = BuildQueue(limit=1)
    ticket = queue.submit("x", 1)
    assert not ticket.cancellation.close()  # built, just before the cancel came
    assert queue.cancel(1)[0] == CancelOutcome.TOO_LATE


def test_an_image_deploy_needs_no_build_slot_only_its_turn_in_its_app() -> None:
    queue = BuildQueue(limit=1)
    queue.submit("x", 1)  # holds the only slot
    image = queue.submit("y", 2, needs_slot=False)
    assert image.state == TicketState.RELEASING
    source = queue.submit("y", 3)
    image_after = queue.submit("y", 4, needs_slot=False)
    assert (source.state, image_after.state) == (TicketState.WAITING, TicketState.WAITING)
    queue.finish(image)
    assert source.state == TicketState.WAITING  # y is free, but the slot is not
    assert image_after.state == TicketState.WAITING  # and y's order holds
