"""The build queue: how many builds run at once, and in which order they start.

Builds are the heaviest thing this machine does (a pip or npm install, an image layer), so at
most `build_concurrency` run at once; the others wait here, and their deploys say so. Three
rules decide who starts when a slot frees:

- per-app order: an app's deploys start in the order they came, and each waits until the
  previous one of the same app has finished *both* its build and its rollout. Without that,
  two deploys of one app raced: the second's build could finish first and its release go out
  before the first's, which then replaced the newer code with the older.
- fairness: among the apps that may start, the one that started a build least recently goes
  first (ties: the one that asked first), so one busy app cannot starve the others.
- a deploy that needs no build (an image deploy) needs no slot, only its turn in its app.

It holds no rows and does no I/O: the deploy pipeline (`xae.codecenter.deploy`) records each
build's status; this only decides, under one lock, and wakes the waiting threads. One queue per
control plane process (`xae.codecenter.builds.build_service`).

What it must never do: start two builds of one app at once, start more than the limit, or
lose a waiting deploy (every ticket ends `done` or `cancelled`, and the pipeline finishes its
ticket in a `finally`).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from xae.builder.cancel import Cancellation
from xae.errors import BuildCancelled


class TicketState(StrEnum):
    WAITING = "waiting"
    BUILDING = "building"
    """Holds a build slot (and its app)."""
    RELEASING = "releasing"
    """Built (or needed no build): holds its app until its rollout ends."""
    DONE = "done"
    CANCELLED = "cancelled"


class CancelOutcome(StrEnum):
    QUEUED = "queued"
    """It was waiting: it never starts."""
    RUNNING = "running"
    """It was building: its build is being stopped."""
    TOO_LATE = "too_late"
    """It is built and rolling out (or over): nothing to cancel."""
    UNKNOWN = "unknown"
    """This queue does not hold it."""


@dataclass(eq=False)
class Ticket:
    """One deploy's place in the queue."""

    app: str
    build_id: int
    seq: int
    needs_slot: bool = True
    state: TicketState = TicketState.WAITING
    cancellation: Cancellation = field(default_factory=Cancellation)
    over: threading.Event = field(default_factory=threading.Event)
    """Set when the ticket is `done` or `cancelled`."""

    def describe(self) -> str:
        return f"build {self.build_id} of app {self.app}"


Report = Callable[[str], None]


class BuildQueue:
    """See the module docstring."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the build queue needs a limit of at least 1")
        self.limit = limit
        self._cond = threading.Condition()
        self._seq = itertools.count(1)
        self._starts = itertools.count(1)
        self._tickets: dict[int, Ticket] = {}
        self._last_start: dict[str, int] = {}
        """App → when (a start counter) its last ticket started."""

    # -- the deploy's side ------------------------------------------------------------------

    def submit(self, app: str, build_id: int, *, needs_slot: bool = True) -> Ticket:
        """Queue a deploy; it may start at once (see `wait`)."""
        with self._cond:
            ticket = Ticket(app, build_id, next(self._seq), needs_slot)
            self._tickets[build_id] = ticket
            self._dispatch()
            return ticket

    def wait(self, ticket: Ticket, report: Report, *, poll: float = 5.0) -> None:
        """Block until `ticket` may start; `report` is told what it waits for whenever that
        changes. Raises `BuildCancelled` if it was cancelled while waiting."""
        said = ""
        with self._cond:
            while ticket.state == TicketState.WAITING:
                message = self._waiting_message(ticket)
                if message != said:
                    said = message
                    report(message)
                self._cond.wait(poll)
            if ticket.state == TicketState.CANCELLED:
                raise BuildCancelled(
                    f"build {ticket.build_id} of {ticket.app} was cancelled while it was queued "
                    "(`xae builds:cancel`); it never started and the current release keeps serving"
                )

    def built(self, ticket: Ticket) -> None:
        """The build is over (built or not): its slot goes to the next; the app stays held
        until `finish`."""
        with self._cond:
            if ticket.state == TicketState.BUILDING:
                ticket.state = TicketState.RELEASING
                self._dispatch()

    def finish(self, ticket: Ticket) -> None:
        """The deploy is over (released, failed or cancelled): the app's next may start."""
        with self._cond:
            if ticket.state != TicketState.CANCELLED:
                ticket.state = TicketState.DONE
            ticket.cancellation.close()
            self._tickets.pop(ticket.build_id, None)
            ticket.over.set()
            self._dispatch()

    # -- anyone's side ----------------------------------------------------------------------

    def cancel(self, build_id: int) -> tuple[CancelOutcome, Ticket | None]:
        """Cancel build `build_id`: a waiting one never starts, a building one is stopped."""
        with self._cond:
            ticket = self._tickets.get(build_id)
            if ticket is None:
                return CancelOutcome.UNKNOWN, None
            if ticket.state == TicketState.WAITING:
                ticket.state = TicketState.CANCELLED
                self._cond.notify_all()
                return CancelOutcome.QUEUED, ticket
            if ticket.state != TicketState.BUILDING:
                return CancelOutcome.TOO_LATE, ticket
        # Outside the lock: stopping a build waits on the engine.
        if ticket.cancellation.cancel():
            return CancelOutcome.RUNNING, ticket
        return CancelOutcome.TOO_LATE, ticket

    def snapshot(self) -> list[tuple[int, str, TicketState]]:
        """(build id, app, state) of every ticket, in the order they came."""
        with self._cond:
            return [
                (t.build_id, t.app, t.state)
                for t in sorted(self._tickets.values(), key=lambda t: t.seq)
            ]

    # -- the rules (called with the lock held) ----------------------------------------------

    def _app_busy(self, app: str) -> bool:
        return any(
            t.app == app and t.state in (TicketState.BUILDING, TicketState.RELEASING)
            for t in self._tickets.values()
        )

    def _app_head(self, app: str) -> Ticket | None:
        waiting = [
            t for t in self._tickets.values() if t.app == app and t.state == TicketState.WAITING
        ]
        return min(waiting, key=lambda t: t.seq) if waiting else None

    def _priority(self, ticket: Ticket) -> tuple[int, int]:
        return (self._last_start.get(ticket.app, 0), ticket.seq)

    def _building(self) -> list[Ticket]:
        return [t for t in self._tickets.values() if t.state == TicketState.BUILDING]

    def _dispatch(self) -> None:
        """Start every ticket that may start now, fairest first."""
        while True:
            apps = {t.app for t in self._tickets.values() if t.state == TicketState.WAITING}
            heads = [
                head
                for app in apps
                if not self._app_busy(app) and (head := self._app_head(app)) is not None
            ]
            free = self.limit - len(self._building())
            startable = [h for h in heads if not h.needs_slot or free > 0]
            if not startable:
                break
            chosen = min(startable, key=self._priority)
            chosen.state = TicketState.BUILDING if chosen.needs_slot else TicketState.RELEASING
            self._last_start[chosen.app] = next(self._starts)
        self._cond.notify_all()

    def ahead_of(self, ticket: Ticket) -> list[Ticket]:
        """The tickets that will start or finish before `ticket` can start (lock held)."""
        mine = self._priority(ticket)
        ahead = [
            t
            for t in self._tickets.values()
            if t is not ticket
            and (
                (t.app == ticket.app and (t.state != TicketState.WAITING or t.seq < ticket.seq))
                or (ticket.needs_slot and t.state == TicketState.BUILDING)
                or (
                    t.app != ticket.app
                    and ticket.needs_slot
                    and t.needs_slot
                    and t.state == TicketState.WAITING
                    and self._priority(t) < mine
                )
            )
        ]
        return sorted(ahead, key=lambda t: (t.state == TicketState.WAITING, t.seq))

    def _waiting_message(self, ticket: Ticket) -> str:
        ahead = self.ahead_of(ticket)
        n = len(ahead)
        if not ahead:
            return "queued: waiting for a build slot"
        named = ", ".join(t.describe() for t in ahead[:3]) + (", ..." if n > 3 else "")
        return f"queued: {n} build{'s' if n != 1 else ''} ahead of yours ({named})"
