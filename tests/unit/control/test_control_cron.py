"""Cron jobs and their scheduler on the fakes, with a fake clock: what runs when, what is
skipped, what is recorded, and the jobs a manifest declares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from tests.unit.fakes import World, deploy

from xae.auth.policy import Principal
from xae.control import cron
from xae.control.apps import create_app, get_app
from xae.control.cronrunner import CronSlots
from xae.control.cronscheduler import CronScheduler
from xae.errors import AlreadyExists, InvalidInput, TooManyRequests
from xae.runtime.base import OneOffResult
from xae.store.models import CronJob, CronRun


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


START = datetime(2026, 6, 1, 11, 59, 50, tzinfo=UTC)
NAIVE_START = START.replace(tzinfo=None)


@pytest.fixture
def deployed(world: World, shop: str) -> str:
    deploy(world.platform, shop, "img:1", {"web": "python app.py"})
    return shop


def add(world: World, alice: Principal, app: str, **kw: object) -> CronJob:
    spec = cron.JobSpec(
        name=str(kw.get("name", "report")),
        schedule=str(kw.get("schedule", "* * * * *")),
        command=str(kw.get("command", "python report.py")),
        zone=kw.get("zone"),  # type: ignore[arg-type]
        overlap=kw.get("overlap"),  # type: ignore[arg-type]
    )
    return cron.add_job(world.platform, alice, app, spec, now=NAIVE_START)


def runs(world: World) -> list[CronRun]:
    with world.db.session() as session:
        return list(session.scalars(select(CronRun).order_by(CronRun.id)))


def test_a_job_runs_at_its_time_in_the_current_release_and_its_output_is_kept(
    world: World, deployed: str, alice: Principal
) -> None:
    job = add(world, alice, deployed)
    assert job.next_run_at == datetime(2026, 6, 1, 12, 0)
    world.runtime.oneoff_script = lambda spec: (
        ["report written", "rows: 3"],
        OneOffResult(exit_code=0),
    )
    clock = Clock(START)
    scheduler = CronScheduler(world.platform, clock=clock)

    assert scheduler.tick() == []  # 11:59:50: not yet
    clock.now = START + timedelta(seconds=12)
    [run_id] = scheduler.tick()

    [spec] = world.runtime.oneoffs
    assert (spec.kind, spec.name, spec.command, spec.release) == (
        "cron",
        f"cron-report-{run_id}",
        "python report.py",
        1,
    )
    [run] = runs(world)
    assert (run.status, run.exit_code, run.release, run.trigger) == ("succeeded", 0, 1, "schedule")
    assert run.output == "report written\nrows: 3"
    assert run.due_at == datetime(2026, 6, 1, 12, 0)
    with world.db.session() as session:
        again = session.get(CronJob, job.id)
        assert again is not None and again.next_run_at == datetime(2026, 6, 1, 12, 1)
    assert scheduler.tick() == []  # the same minute never runs twice


def test_a_run_due_while_the_last_one_runs_is_skipped_unless_overlap_is_allowed(
    world: World, deployed: str, alice: Principal
) -> None:
    add(world, alice, deployed, name="sync")
    add(world, alice, deployed, name="both", overlap="allow")
    world.platform.cron_slots.per_app = 4  # three runs of the app at once here
    started: list[int] = []
    clock = Clock(START + timedelta(seconds=15))
    scheduler = CronScheduler(world.platform, clock=clock, start=started.append)
    first = scheduler.tick()  # 12:00: both start (and, never finished, keep running)
    clock.now += timedelta(minutes=1)

    second = scheduler.tick()  # 12:01

    assert len(first) == 2 and len(second) == 1
    by_job: dict[str, list[tuple[str, str | None]]] = {}
    with world.db.session() as session:
        names = cron.job_names(session, {r.job_id for r in runs(world)})
    for run in runs(world):
        by_job.setdefault(names[run.job_id], []).append((run.status, run.reason))
    assert by_job["both"] == [("running", None), ("running", None)]
    assert by_job["sync"][0] == ("running", None)
    status, reason = by_job["sync"][1]
    assert status == "skipped" and reason is not None and "still runs" in reason
    for run_id in started:
        world.platform.cron_slots.release_run(run_id)


def test_a_time_missed_while_the_plane_was_down_is_not_replayed(
    world: World, deployed: str, alice: Principal
) -> None:
    job = add(world, alice, deployed, schedule="0 * * * *")  # due 12:00
    clock = Clock(datetime(2026, 6, 1, 15, 20, tzinfo=UTC))  # back at 15:20

    assert CronScheduler(world.platform, clock=clock).tick() == []

    assert runs(world) == []
    with world.db.session() as session:
        again = session.get(CronJob, job.id)
        assert again is not None and again.next_run_at == datetime(2026, 6, 1, 16, 0)


def test_runs_left_running_by_a_stopped_plane_are_recorded_as_interrupted(
    world: World, deployed: str, alice: Principal
) -> None:
    add(world, alice, deployed)
    clock = Clock(START + timedelta(seconds=15))
    scheduler = CronScheduler(world.platform, clock=clock, start=lambda run_id: None)
    [run_id] = scheduler.tick()
    world.platform.cron_slots.release_run(run_id)

    assert CronScheduler(world.platform).recover() == 1

    [run] = runs(world)
    assert run.status == "interrupted" and run.finished_at is not None


def test_a_failing_or_timed_out_run_is_recorded_with_its_exit(
    world: World, deployed: str, alice: Principal
) -> None:
    add(world, alice, deployed)
    results = iter([OneOffResult(exit_code=2), OneOffResult(exit_code=None, timed_out=True)])
    world.runtime.oneoff_script = lambda spec: (["boom"], next(results))

    cron.run_now(world.platform, alice, deployed, "report")
    cron.run_now(world.platform, alice, deployed, "report")

    failed, timed_out = runs(world)
    assert (failed.status, failed.exit_code, failed.reason) == ("failed", 2, "exit code 2")
    assert (failed.trigger, failed.output) == ("manual", "boom")
    assert timed_out.status == "timed_out" and timed_out.exit_code is None


def test_the_history_is_bounded_per_job(world: World, deployed: str, alice: Principal) -> None:
    world.platform.settings.cron_runs_kept = 3
    add(world, alice, deployed)
    for _ in range(5):
        cron.run_now(world.platform, alice, deployed, "report")
    assert [r.id for r in runs(world)] == [3, 4, 5]


def test_bad_jobs_are_refused_naming_what_is_wrong(
    world: World, deployed: str, alice: Principal
) -> None:
    with pytest.raises(InvalidInput, match=r"the schedule '\* \* \*' has 3 field"):
        add(world, alice, deployed, schedule="* * *")
    with pytest.raises(InvalidInput, match="unknown time zone 'Europe/Atlantis'"):
        add(world, alice, deployed, zone="Europe/Atlantis")
    with pytest.raises(InvalidInput, match="cron job name"):
        add(world, alice, deployed, name="Bad_Name")
    add(world, alice, deployed)
    with pytest.raises(AlreadyExists, match="already has a cron job report"):
        add(world, alice, deployed)


def test_a_manifest_replaces_its_own_jobs_and_leaves_the_cli_ones(
    world: World, deployed: str, alice: Principal
) -> None:
    add(world, alice, deployed, name="by-hand")
    first = [
        cron.JobSpec("backup", "30 2 * * *", "python backup.py"),
        cron.JobSpec("digest", "0 8 * * mon", "python digest.py", zone="Europe/Paris"),
    ]
    with world.db.session() as session:
        cron.set_manifest_jobs(session, get_app(session, deployed), first, now=NAIVE_START)
    with world.db.session() as session:
        second = [cron.JobSpec("backup", "30 2 * * *", "python backup.py --full")]
        cron.set_manifest_jobs(session, get_app(session, deployed), second, now=NAIVE_START)

    with world.db.session() as session:
        jobs = {
            j.name: (j.source, j.command)
            for j in cron.list_jobs(session, get_app(session, deployed))
        }
    assert jobs == {
        "backup": ("manifest", "python backup.py --full"),
        "by-hand": ("cli", "python report.py"),
    }
    with world.db.session() as session, pytest.raises(InvalidInput, match="'\\* \\*'"):
        cron.set_manifest_jobs(
            session, get_app(session, deployed), [cron.JobSpec("x", "* *", "true")]
        )


def test_cron_slots_hold_a_limit_per_app_under_a_platform_ceiling() -> None:
    slots = CronSlots(per_app=2, total=3)
    assert slots.acquire(1, "a") == "" and slots.acquire(1, "a") == ""
    assert "2 cron run(s) of a were going" in slots.acquire(1, "a")
    assert slots.acquire(2, "b") == ""
    assert "3 cron runs were going on the platform" in slots.acquire(3, "c")
    slots.bind(7, 1)
    assert slots.release_run(7) and not slots.release_run(7)
    assert slots.acquire(3, "c") == "" and slots.going() == 3 and slots.going(1) == 1


def test_one_app_at_its_limit_does_not_starve_another_apps_jobs(
    world: World, deployed: str, alice: Principal
) -> None:
    create_app(world.platform, alice, "blog")
    deploy(world.platform, "blog", "img:b", {"web": "python app.py"})
    for name in ("one", "two", "three"):
        add(world, alice, deployed, name=name, overlap="allow")
    add(world, alice, "blog", name="digest")
    started: list[int] = []
    scheduler = CronScheduler(
        world.platform, clock=Clock(START + timedelta(seconds=15)), start=started.append
    )

    assert len(scheduler.tick()) == 3  # shop's first two and blog's one

    with world.db.session() as session:
        names = cron.job_names(session, {r.job_id for r in runs(world)})
    outcome = {names[r.job_id]: (r.status, r.reason) for r in runs(world)}
    assert outcome["one"] == outcome["two"] == outcome["digest"] == ("running", None)
    status, reason = outcome["three"]
    assert status == "skipped" and "2 cron run(s) of shop were going" in (reason or "")
    # By hand too: shop is refused, blog is not.
    with pytest.raises(TooManyRequests, match="of shop were going"):
        cron.run_now(world.platform, alice, deployed, "one")
    for run_id in started:
        world.platform.cron_slots.release_run(run_id)
