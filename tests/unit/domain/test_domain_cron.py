"""Cron schedules: what parses, what is refused (naming the expression), when a job runs next,
and the scheduler's decision for a job whose time came (a fake clock: plain datetimes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from xae.domain.cron import (
    Decision,
    Overlap,
    bounded_output,
    decide,
    parse_overlap,
    parse_schedule,
    parse_zone,
)
from xae.errors import InvalidInput

T0 = datetime(2026, 3, 28, 23, 59, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("* * * * *", T0, datetime(2026, 3, 29, 0, 0, tzinfo=UTC)),
        ("*/15 * * * *", T0, datetime(2026, 3, 29, 0, 0, tzinfo=UTC)),
        ("30 2 * * *", T0, datetime(2026, 3, 29, 2, 30, tzinfo=UTC)),
        ("0 9 * * mon-fri", T0, datetime(2026, 3, 30, 9, 0, tzinfo=UTC)),
        ("0 0 1 jan *", T0, datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("@hourly", T0, datetime(2026, 3, 29, 0, 0, tzinfo=UTC)),
        ("  0   12 * * *  ", T0, datetime(2026, 3, 29, 12, 0, tzinfo=UTC)),
    ],
)
def test_a_schedule_in_utc_runs_next_at_its_next_matching_minute(
    expression: str, after: datetime, expected: datetime
) -> None:
    assert parse_schedule(expression).next_after(after) == expected


def test_a_schedule_in_a_named_zone_follows_its_daylight_saving_time() -> None:
    daily = parse_schedule("0 3 * * *", "Europe/Paris")
    # 03:00 in Paris is 02:00 UTC in winter (CET) and 01:00 UTC after the switch on 29 March.
    assert daily.next_after(datetime(2026, 3, 27, 12, tzinfo=UTC)) == datetime(
        2026, 3, 28, 2, 0, tzinfo=UTC
    )
    assert daily.next_after(datetime(2026, 3, 29, 12, tzinfo=UTC)) == datetime(
        2026, 3, 30, 1, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("", "empty"),
        ("* * * *", "has 4 field(s)"),
        ("0 0 * * * *", "has 6 field(s)"),
        ("61 * * * *", "out of range"),
        ("* 24 * * *", "out of range"),
        ("0 0 L * *", "'L' is not a cron field"),
        ("0 0 * * 5#2", "'5#2' is not a cron field"),
        ("H * * * *", "'H' is not a cron field"),
        ("0 0 * * funday", "'funday' is not a cron field"),
        ("@sometimes", "not a cron expression"),
        ("* * * * $(reboot)", "not a cron field"),
    ],
)
def test_a_schedule_that_does_not_parse_is_refused_naming_it(expression: str, says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_schedule(expression)
    assert says in refused.value.message
    if expression:
        assert repr(" ".join(expression.split())) in refused.value.message


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe/../etc/passwd", "a" * 70, "UTC;ls"])
def test_an_unknown_zone_is_refused(zone: str) -> None:
    with pytest.raises(InvalidInput, match="zone"):
        parse_zone(zone)


def test_the_zone_is_utc_unless_given() -> None:
    assert parse_schedule("0 0 * * *").zone == "UTC"
    assert parse_schedule("0 0 * * *", "Asia/Tokyo").zone == "Asia/Tokyo"


def test_overlap_is_skip_unless_allow_is_asked_for() -> None:
    assert parse_overlap(None) is Overlap.SKIP
    assert parse_overlap("allow") is Overlap.ALLOW
    with pytest.raises(InvalidInput, match="`skip` .* or `allow`"):
        parse_overlap("queue")


DUE = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "overlap", "running", "expected"),
    [
        (DUE - timedelta(seconds=1), Overlap.SKIP, 0, Decision.WAIT),
        (DUE, Overlap.SKIP, 0, Decision.RUN),
        (DUE + timedelta(seconds=30), Overlap.SKIP, 0, Decision.RUN),
        (DUE + timedelta(seconds=5), Overlap.SKIP, 1, Decision.SKIP),
        (DUE + timedelta(seconds=5), Overlap.ALLOW, 1, Decision.RUN),
        (DUE + timedelta(minutes=5), Overlap.SKIP, 0, Decision.MISSED),
        (DUE + timedelta(hours=3), Overlap.ALLOW, 0, Decision.MISSED),
    ],
)
def test_the_decision_for_a_due_job_follows_the_clock_and_its_overlap_policy(
    now: datetime, overlap: Overlap, running: int, expected: Decision
) -> None:
    assert decide(DUE, now, overlap, running) is expected


def test_the_output_kept_is_the_tail_within_the_limit_and_says_what_was_dropped() -> None:
    lines = [f"line {n}" for n in range(1000)]
    kept = bounded_output(lines, 100).splitlines()
    assert kept[0].startswith("[") and "earlier line(s) not kept" in kept[0]
    assert kept[-1] == "line 999"
    assert sum(len(line) + 1 for line in kept[1:]) <= 100
    assert bounded_output(["a", "b"], 100) == "a\nb"
