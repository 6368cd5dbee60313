"""Cron schedules and the scheduler's decisions, as pure functions (no clock, no I/O).

A job runs on a 5-field cron schedule (`minute hour day-of-month month day-of-week`, or one
of `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`), read in UTC or in a named IANA
zone. The syntax accepted is the one Kubernetes' CronJob accepts too (numbers, names of months
and weekdays, `*`, `,`, `-`, `/`): croniter's extensions (`L`, `#`, `H`, seconds, years) are
refused, so a schedule means the same whichever component runs it.

The scheduler asks `decide` what to do with a job whose time came: run it, skip it (a run of
it is still going and it does not allow overlap) or pass (the time is long gone: the control
plane was down, and missed runs are not replayed). The clock is an argument, so the decisions
are tested with a fake one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter  # type: ignore[import-untyped]

from xae.errors import InvalidInput

MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_FIELD = re.compile(r"^[0-9A-Za-z*,/\-]+$")
_NAMES = re.compile(r"[A-Za-z]+")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_KNOWN_NAMES = frozenset(_MONTHS + _WEEKDAYS)
MAX_SCHEDULE = 100
CATCH_UP = timedelta(seconds=60)
"""A run found due later than this after its time was missed (the plane was down or busy):
it is passed over, not replayed."""


class Overlap(StrEnum):
    """What happens when a job's time comes while its previous run still runs."""

    SKIP = "skip"
    """The new run is skipped (recorded as `skipped`): the default, as most jobs are not
    written to run twice at once."""
    ALLOW = "allow"
    """Both run."""


class Decision(StrEnum):
    RUN = "run"
    SKIP = "skip"
    """Its time came, but a run of it is still going and overlap is not allowed."""
    MISSED = "missed"
    """Its time passed longer ago than `CATCH_UP`: not run, not recorded."""
    WAIT = "wait"


@dataclass(frozen=True)
class Schedule:
    expression: str
    """As the user gave it, whitespace normalised (`@daily` stays `@daily`)."""
    zone: str
    """An IANA zone name; `UTC` by default."""

    def next_after(self, moment: datetime) -> datetime:
        """The first time strictly after `moment` (aware) that the schedule fires, in UTC."""
        local = moment.astimezone(ZoneInfo(self.zone))
        expanded = MACROS.get(self.expression, self.expression)
        fired: datetime = croniter(expanded, local).get_next(datetime)
        return fired.astimezone(UTC)


def parse_zone(zone: str | None) -> str:
    """`zone` as a known IANA zone name (`UTC` when None or empty)."""
    if not zone:
        return "UTC"
    if len(zone) > 64 or not re.fullmatch(r"[A-Za-z0-9_+\-/]+", zone) or ".." in zone:
        raise InvalidInput(
            "the time zone must be an IANA zone name such as UTC or Europe/Paris "
            "(see `timedatectl list-timezones`)"
        )
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {zone!r}: use an IANA zone name such as UTC or Europe/Paris"
        ) from None
    return zone


def parse_schedule(expression: str, zone: str | None = None) -> Schedule:
    """Check a cron expression (5 fields or a macro) and a zone; errors name the expression."""
    text = " ".join(expression.split())
    shown = repr(text[:MAX_SCHEDULE])
    if not text:
        raise InvalidInput('the schedule is empty: give 5 fields, e.g. "*/15 * * * *"')
    if len(text) > MAX_SCHEDULE:
        raise InvalidInput(f"the schedule {shown}... is too long (at most {MAX_SCHEDULE})")
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise InvalidInput(
                f"the schedule {shown} is not a cron expression: the macros are "
                f"{', '.join(sorted(MACROS))}"
            )
        return Schedule(text.lower(), parse_zone(zone))
    fields = text.split(" ")
    if len(fields) != 5:
        raise InvalidInput(
            f"the schedule {shown} has {len(fields)} field(s); cron schedules have 5: "
            'minute hour day-of-month month day-of-week, e.g. "30 2 * * *" (02:30 daily)'
        )
    for item in fields:
        bad = not _FIELD.fullmatch(item) or any(
            name.lower() not in _KNOWN_NAMES for name in _NAMES.findall(item)
        )
        if bad:
            raise InvalidInput(
                f"the schedule {shown} does not parse: {item!r} is not a cron field (use "
                "numbers, month or weekday names, *, ',', '-' and '/')"
            )
    if not croniter.is_valid(text):
        raise InvalidInput(
            f"the schedule {shown} does not parse: a value is out of range (minute 0-59, "
            "hour 0-23, day 1-31, month 1-12, weekday 0-7)"
        )
    schedule = Schedule(text, parse_zone(zone))
    try:
        schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC))
    except (ValueError, KeyError) as e:
        raise InvalidInput(f"the schedule {shown} does not parse: {str(e)[:100]}") from None
    return schedule


def parse_overlap(value: str | None) -> Overlap:
    try:
        return Overlap(value or Overlap.SKIP)
    except ValueError:
        raise InvalidInput(
            f"overlap must be `skip` (the default) or `allow`, not {str(value)[:20]!r}"
        ) from None


def decide(due_at: datetime, now: datetime, overlap: Overlap, running: int) -> Decision:
    """What to do with a job due at `due_at` (aware), at `now`, with `running` runs going."""
    if now < due_at:
        return Decision.WAIT
    if now - due_at > CATCH_UP:
        return Decision.MISSED
    if running and overlap == Overlap.SKIP:
        return Decision.SKIP
    return Decision.RUN


def bounded_output(lines: list[str], limit: int) -> str:
    """The output kept for a run: the last lines within `limit` characters, and a first line
    saying how many were dropped when any were."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        size += len(line) + 1
        if size > limit:
            break
        kept.append(line)
    kept.reverse()
    dropped = len(lines) - len(kept)
    if dropped:
        kept.insert(0, f"[{dropped} earlier line(s) not kept]")
    return "\n".join(kept)
