"""Delivering notifications with a fake clock and transport: signed bodies, retries with
backoff, bounded attempts, the delivery log, and no request to an address inside."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from tests.unit.fakes import World

from xae.codecenter.notify import Notifier
from xae.control.apps import create_app
from xae.domain.hooks import HookTarget, verify
from xae.domain.registries import PlatformAddresses
from xae.store.models import App, Hook, HookDelivery, HookOutbox

SECRET = "f" * 64


@dataclass
class FakeTransport:
    answers: list[int | Exception]
    sent: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    def __call__(
        self, target: HookTarget, address: str, headers: dict[str, str], body: bytes, timeout: float
    ) -> int:
        self.sent.append((target.host, address, headers, body))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    """The monotonic clock the queue runs on and, moved by the same steps, the wall clock the
    outbox records due times in."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return datetime(2026, 12, 2, 3, 0) + timedelta(seconds=self.now - 1000.0)


@pytest.fixture
def app_id(world: World) -> int:
    create_app(world.platform, world.user("alice"), "shop")
    with world.db.session() as session:
        return session.scalars(select(App.id).where(App.name == "shop")).one()


def add_hook(world: World, app_id: int, url: str, events: list[str]) -> int:
    with world.db.session() as session:
        hook = Hook(
            app_id=app_id,
            url=url,
            events=events,
            secret_sealed=world.platform.vault.seal({"secret": SECRET}),
        )
        session.add(hook)
        session.flush()
        return hook.id


def notifier(
    world: World, transport: FakeTransport, clock: Clock, **resolved: list[str]
) -> Notifier:
    settings = world.platform.settings.model_copy(update={"hook_attempts": 3, "hook_backoff": 2.0})
    return Notifier(
        world.db,
        world.platform.vault,
        settings,
        transport=transport,
        resolve=lambda host: resolved[host.replace(".", "_")],
        platform=PlatformAddresses,
        clock=clock,
        now=clock.wall,
        background=False,
    )


def log_of(world: World) -> list[tuple[int, int | None, bool, str | None]]:
    with world.db.session() as session:
        return [
            (d.attempt, d.status_code, d.ok, d.error)
            for d in session.scalars(select(HookDelivery).order_by(HookDelivery.id))
        ]


def test_an_event_is_posted_signed_to_each_subscribed_hook_at_the_checked_address(
    world: World, app_id: int
) -> None:
    add_hook(world, app_id, "https://hooks.example.com/x", ["build"])
    add_hook(world, app_id, "https://other.example.com/y", ["deploy"])  # not subscribed
    transport, clock = FakeTransport([200]), Clock()
    n = notifier(world, transport, clock, hooks_example_com=["93.184.216.34"])

    assert n.publish(app_id, "build", "build.succeeded", {"app": "shop"}) == 1
    assert n.run_due() is None

    [(host, address, headers, body)] = transport.sent
    assert (host, address) == ("hooks.example.com", "93.184.216.34")
    assert verify(SECRET, body, headers["X-Xae-Signature"])
    assert headers["X-Xae-Event"] == "build.succeeded"
    event: dict[str, Any] = json.loads(body)
    assert (event["event"], event["app"], event["id"]) == (
        "build.succeeded",
        "shop",
        headers["X-Xae-Delivery"],
    )
    assert log_of(world) == [(1, 200, True, None)]


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    world: World, app_id: int
) -> None:
    add_hook(world, app_id, "http://93.184.216.34/x", ["deploy"])
    transport, clock = (
        FakeTransport([503, ConnectionRefusedError(111, "Connection refused"), 204]),
        Clock(),
    )
    n = notifier(world, transport, clock)
    n.publish(app_id, "deploy", "deploy.failed", {"app": "shop"})

    assert n.run_due() == 1002.0  # the second attempt waits 2 s
    clock.now = 1001.9
    assert n.run_due() == 1002.0 and len(transport.sent) == 1  # not yet
    clock.now = 1002.0
    assert n.run_due() == 1006.0  # the third waits 4 s more
    clock.now = 1006.0
    assert n.run_due() is None

    assert [b for *_, b in transport.sent] == [transport.sent[0][3]] * 3  # the same event
    assert log_of(world) == [
        (1, 503, False, "the receiver answered HTTP 503; attempt 2 follows"),
        (2, None, False, "no answer: Connection refused; attempt 3 follows"),
        (3, 204, True, None),
    ]


def test_attempts_are_bounded_and_a_client_error_is_final(world: World, app_id: int) -> None:
    add_hook(world, app_id, "http://93.184.216.34/x", ["build"])
    transport, clock = FakeTransport([500, 500, 500, 500]), Clock()
    n = notifier(world, transport, clock)
    n.publish(app_id, "build", "build.failed", {})
    while (due := n.run_due()) is not None:
        clock.now = due
    assert len(transport.sent) == 3
    assert [row[:2] for row in log_of(world)] == [(1, 500), (2, 500), (3, 500)]

    transport.answers, transport.sent = [404], []
    n.publish(app_id, "build", "build.failed", {})
    assert n.run_due() is None
    assert len(transport.sent) == 1


@pytest.mark.parametrize(
    ("url", "resolved"),
    [
        ("http://127.0.0.1:5050/v1/apps", {}),  # the API itself
        ("http://169.254.169.254/latest/meta-data/", {}),  # cloud metadata
        ("http://evil.example.com/", {"evil_example_com": ["93.184.216.34", "10.0.0.5"]}),
    ],
)
def test_no_request_goes_to_an_address_inside_the_platform(
    world: World, app_id: int, url: str, resolved: dict[str, list[str]]
) -> None:
    add_hook(world, app_id, url, ["build"])
    transport, clock = FakeTransport([200]), Clock()
    n = notifier(world, transport, clock, **resolved)
    n.publish(app_id, "build", "build.succeeded", {})
    assert n.run_due() is None  # refused once, not retried

    assert transport.sent == []
    [(attempt, status, ok, error)] = log_of(world)
    assert (attempt, status, ok) == (1, None, False)
    assert error is not None and "inside the platform" in error
    assert "10.0.0.5" not in error  # what a name resolved to stays unsaid


def test_publishing_never_raises_even_when_the_store_fails(world: World) -> None:
    transport, clock = FakeTransport([]), Clock()
    n = notifier(world, transport, clock)
    world.db.engine.dispose()
    n._db = None  # type: ignore[assignment]
    assert n.publish(1, "build", "build.succeeded", {}) == 0


def outbox(world: World) -> list[tuple[int, datetime]]:
    with world.db.session() as session:
        return [(r.attempt, r.due_at) for r in session.scalars(select(HookOutbox))]


def test_a_retry_pending_when_the_control_plane_stops_is_sent_by_the_next_one(
    world: World, app_id: int
) -> None:
    add_hook(world, app_id, "https://hooks.example.com/x", ["deploy"])
    before = FakeTransport([503])
    clock = Clock()
    first = notifier(world, before, clock, hooks_example_com=["93.184.216.34"])
    first.publish(app_id, "deploy", "deploy.succeeded", {"app": "shop"})
    assert first.run_due() == 1002.0
    assert outbox(world) == [(2, clock.wall() + timedelta(seconds=2))]
    del first  # the control plane stops; its queue in memory is gone

    clock.now = 1001.0  # a second later the next one starts, on its own clocks
    after = FakeTransport([204])
    second = notifier(world, after, clock, hooks_example_com=["93.184.216.34"])
    assert second.resume() == 1
    assert second.resume() == 0  # once per process
    assert second.run_due() == 1002.0 and after.sent == []  # still due when it was due
    clock.now = 1002.0
    assert second.run_due() is None

    [(host, address, headers, body)] = after.sent
    assert (host, address) == ("hooks.example.com", "93.184.216.34")
    assert body == before.sent[0][3]  # the same event, id and signature
    assert verify(SECRET, body, headers["X-Xae-Signature"])
    assert headers["X-Xae-Delivery"] == before.sent[0][2]["X-Xae-Delivery"]
    assert [row[:3] for row in log_of(world)] == [(1, 503, False), (2, 204, True)]
    assert outbox(world) == []


def test_a_resumed_retry_is_checked_again_and_refused_if_its_host_now_points_inside(
    world: World, app_id: int
) -> None:
    add_hook(world, app_id, "https://hooks.example.com/x", ["deploy"])
    clock = Clock()
    first = notifier(world, FakeTransport([503]), clock, hooks_example_com=["93.184.216.34"])
    first.publish(app_id, "deploy", "deploy.succeeded", {})
    first.run_due()

    after = FakeTransport([204])
    second = notifier(world, after, clock, hooks_example_com=["127.0.0.1"])
    second.resume()
    clock.now = 1010.0
    assert second.run_due() is None

    assert after.sent == []
    attempt, status, ok, error = log_of(world)[-1]
    assert (attempt, status, ok) == (2, None, False)
    assert error is not None and "inside the platform" in error
    assert outbox(world) == []


def test_resuming_is_bounded_and_what_is_beyond_is_logged_as_given_up(
    world: World, app_id: int
) -> None:
    add_hook(world, app_id, "http://93.184.216.34/x", ["build"])
    clock = Clock()
    first = notifier(world, FakeTransport([500, 500, 500]), clock)
    for _ in range(3):
        first.publish(app_id, "build", "build.failed", {})
    first.run_due()
    assert len(outbox(world)) == 3

    after = FakeTransport([204, 204])
    second = notifier(world, after, clock)
    assert second.resume(limit=2) == 2
    clock.now = 1010.0
    assert second.run_due() is None
    assert len(after.sent) == 2
    given_up = [row for row in log_of(world) if row[3] and "given up" in row[3]]
    assert given_up == [
        (2, None, False, "given up: more than 2 deliveries were pending when xae started")
    ]
    assert outbox(world) == []


def test_a_pending_retry_of_a_removed_hook_is_dropped(world: World, app_id: int) -> None:
    hook_id = add_hook(world, app_id, "http://93.184.216.34/x", ["build"])
    transport, clock = FakeTransport([503]), Clock()
    n = notifier(world, transport, clock)
    n.publish(app_id, "build", "build.failed", {})
    assert n.run_due() == 1002.0
    with world.db.session() as session:
        session.delete(session.get(Hook, hook_id))
    assert outbox(world) == []  # the hook's outbox went with it
    clock.now = 1002.0
    assert n.run_due() is None
    assert len(transport.sent) == 1
