"""Cron on a cluster that runs CronJobs itself, on a fake cluster: the CronJobs follow the
store (jobs, releases, config), the cluster's Jobs become recorded runs with their exit and
output, its skips are recorded as the docker scheduler records its own, and a run by hand is
a Job from the CronJob's template."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from tests.unit.fakes import World, deploy

from xae.auth.policy import Principal
from xae.control import cron, cronjobs, oneoff
from xae.control.apps import get_app
from xae.control.cronjobs import ClusterCronRunner
from xae.control.cronscheduler import ScheduledCronRunner, runner_for
from xae.control.platform import Platform
from xae.control.releases import set_config
from xae.errors import TooManyRequests
from xae.runtime.base import AppSchedule, ClusterRun, ClusterSkip, OneOffSpec
from xae.store.models import CronRun

NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)


class FakeCluster:
    """What a `CronCluster` is told, and the runs and skips it reports."""

    def __init__(self) -> None:
        self.applied: list[list[AppSchedule]] = []
        self.runs: list[ClusterRun] = []
        self.skips: list[ClusterSkip] = []
        self.output: dict[str, list[str]] = {}
        self.started: list[tuple[str, str, str]] = []
        self.stopped: list[str] = []

    def apply_schedules(self, schedules: list[AppSchedule]) -> None:
        self.applied.append(schedules)

    def start_scheduled(self, app: str, job: str, name: str) -> None:
        self.started.append((app, job, name))

    def cluster_runs(self) -> list[ClusterRun]:
        return list(self.runs)

    def run_output(self, run: ClusterRun, limit: int) -> list[str]:
        return self.output.get(run.name, [])[-limit:]

    def cluster_skips(self) -> list[ClusterSkip]:
        return list(self.skips)

    def stop_run(self, run: ClusterRun) -> None:
        self.stopped.append(run.name)


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def runner(world: World, cluster: FakeCluster) -> ClusterCronRunner:
    runner = ClusterCronRunner(world.platform, cluster, clock=lambda: NOW)
    world.platform.cron_runner = runner
    return runner


@pytest.fixture
def deployed(world: World, shop: str) -> str:
    deploy(world.platform, shop, "img:1", {"web": "python app.py"})
    return shop


def add(
    world: World,
    alice: Principal,
    app: str,
    name: str,
    *,
    schedule: str = "* * * * *",
    zone: str | None = None,
    overlap: str | None = None,
) -> None:
    spec = cron.JobSpec(name, schedule, "true", zone=zone, overlap=overlap)
    cron.add_job(world.platform, alice, app, spec)


def running(name: str, **kw: object) -> ClusterRun:
    values: dict[str, object] = dict(
        app="shop",
        job="report",
        name=name,
        namespace="xae-alice",
        release=1,
        scheduled_at=NOW.replace(second=0),
        started_at=NOW.replace(second=1),
        finished_at=None,
        outcome="running",
        exit_code=None,
    )
    values.update(kw)
    return ClusterRun(**values)  # type: ignore[arg-type]


def runs(world: World) -> list[CronRun]:
    with world.db.session() as session:
        return list(session.scalars(select(CronRun).order_by(CronRun.id)))


def test_the_backend_picks_the_strategy(world: World, cluster: FakeCluster) -> None:
    assert isinstance(runner_for(world.platform), ScheduledCronRunner)  # the fake runtime
    world.platform.backend = cluster  # type: ignore[assignment]
    assert isinstance(runner_for(world.platform), ClusterCronRunner)


def test_each_job_is_scheduled_in_the_current_release_with_its_zone_and_policy(
    world: World, deployed: str, alice: Principal, runner: ClusterCronRunner, cluster: FakeCluster
) -> None:
    add(world, alice, deployed, "report", schedule="@daily", zone="Europe/Paris")
    add(world, alice, deployed, "sync", overlap="allow")

    runner.sync()

    [[schedule]] = cluster.applied
    assert (schedule.app, schedule.owner) == ("shop", "alice")
    report, sync = schedule.jobs
    assert (report.job, report.schedule, report.zone) == ("report", "0 0 * * *", "Europe/Paris")
    assert (report.allow_overlap, sync.allow_overlap) == (False, True)
    assert report.starting_deadline == 60
    assert (report.oneoff.image, report.oneoff.release, report.oneoff.kind) == ("img:1", 1, "cron")
    assert report.oneoff.timeout == world.platform.settings.oneoff_timeout


def test_a_new_release_or_config_moves_the_jobs_and_a_removed_job_goes(
    world: World, deployed: str, alice: Principal, runner: ClusterCronRunner, cluster: FakeCluster
) -> None:
    add(world, alice, deployed, "report")
    deploy(world.platform, deployed, "img:2", {"web": "python app.py"})
    set_config(world.platform, alice, deployed, {"GREETING": "hi"})
    runner.sync()
    [[schedule]] = cluster.applied[-1:]
    [job] = schedule.jobs
    assert (job.oneoff.image, job.oneoff.release) == ("img:2", 3)
    assert job.oneoff.env["GREETING"] == "hi"

    cron.remove_job(world.platform, alice, deployed, "report")
    runner.sync()
    assert cluster.applied[-1] == []  # the cluster deletes what it no longer lists


def test_a_releases_config_is_opened_once_not_on_every_tick(
    world: World,
    deployed: str,
    alice: Principal,
    runner: ClusterCronRunner,
    cluster: FakeCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[int] = []
    real = oneoff.oneoff_spec

    def counting(p: Platform, app: str, release_id: int, *args: Any, **kw: Any) -> OneOffSpec:
        opened.append(release_id)
        return real(p, app, release_id, *args, **kw)

    monkeypatch.setattr(cronjobs, "oneoff_spec", counting)
    add(world, alice, deployed, "report")
    for _ in range(3):
        runner.sync()
    assert len(opened) == 1
    set_config(world.platform, alice, deployed, {"GREETING": "hi"})  # a new release
    runner.sync()
    runner.sync()
    assert len(opened) == 2
    assert cluster.applied[0] == cluster.applied[2]  # the same schedules, tick after tick
    assert cluster.applied[-1][0].jobs[0].oneoff.env["GREETING"] == "hi"


def test_an_app_without_a_release_has_no_cronjob(
    world: World, shop: str, alice: Principal, runner: ClusterCronRunner, cluster: FakeCluster
) -> None:
    add(world, alice, shop, "report")
    runner.sync()
    assert cluster.applied == [[]]


def test_the_clusters_jobs_are_recorded_as_runs_with_their_exit_and_output(
    world: World, deployed: str, alice: Principal, runner: ClusterCronRunner, cluster: FakeCluster
) -> None:
    add(world, alice, deployed, "report")
    cluster.runs = [running("shop-report-1"), running("other-app-1", app="other")]

    [run_id] = runner.observe(NOW)
    [run] = runs(world)
    assert (run.id, run.status, run.trigger, run.release) == (run_id, "running", "schedule", 1)
    assert run.due_at == datetime(2026, 6, 1, 12, 0)
    assert run.backend_ref == "shop-report-1"

    cluster.runs = [
        replace(
            running("shop-report-1"),
            outcome="failed",
            exit_code=3,
            finished_at=NOW + timedelta(seconds=5),
        )
    ]
    cluster.output["shop-report-1"] = ["working", "boom"]
    assert runner.observe(NOW) == []  # no second row for the same Job
    [run] = runs(world)
    assert (run.status, run.exit_code, run.reason) == ("failed", 3, "exit code 3")
    assert run.output == "working\nboom"
    assert run.finished_at == datetime(2026, 6, 1, 12, 0, 35)


def test_a_timed_out_or_vanished_job_is_recorded_so(
    world: World, deployed: str, alice: Principal, runner: ClusterCronRunner, cluster: FakeCluster
) -> None:
    add(world, alice, deployed, "report")
    cluster.runs = [running("a"), running("b")]
    runner.observe(NOW)
    cluster.runs = [replace(running("a"), outcome="timed_out")]

    runner.observe(NOW + timedelta(minutes=5))

    timed_out, vanished = runs(world)
    assert timed_out.status == "timed_out" and "timeout" in (timed_out.reason or "")
    assert vanished.status == "interrupted" and "gone from the cluster" in (vanished.reason or "")


def test_a_run_whose_image_cannot_be_pulled_fails_and_is_stopped_before_its_timeout(
    world: World, deployed: str, alice: Principal, runner: ClusterCronRunner, cluster: FakeCluster
) -> None:
    add(world, alice, deployed, "report")
    cluster.runs = [running("shop-report-1", started_at=NOW, stuck="ErrImagePull")]

    runner.observe(NOW + timedelta(seconds=10))  # a registry blip: still retried
    [run] = runs(world)
    assert run.status == "running" and cluster.stopped == []

    runner.observe(NOW + timedelta(seconds=31))
    [run] = runs(world)
    assert run.status == "failed"
    assert run.reason == "its container could not start (ErrImagePull); the run was stopped"
    assert cluster.stopped == ["shop-report-1"]  # not left pulling until its deadline


def test_the_clusters_skips_are_recorded_once_and_old_ones_not_replayed(
    world: World, deployed: str, alice: Principal, runner: ClusterCronRunner, cluster: FakeCluster
) -> None:
    add(world, alice, deployed, "report")
    old = ClusterSkip("shop", "report", "ev-old", 4, NOW - timedelta(hours=1), NOW)
    new = ClusterSkip("shop", "report", "ev-new", 1, NOW + timedelta(seconds=1), NOW)
    cluster.skips = [old, new]
    runner.observe(NOW)
    cluster.skips = [replace(old, count=5), replace(new, count=2)]
    runner.observe(NOW)
    runner.observe(NOW)

    skipped = runs(world)
    assert len(skipped) == 3  # ev-new's two, ev-old's one since this process saw it
    assert {r.status for r in skipped} == {"skipped"}
    assert all("the previous run still runs" in (r.reason or "") for r in skipped)


def test_a_run_by_hand_is_a_job_from_the_cronjob_and_keeps_the_app_limit(
    world: World, deployed: str, alice: Principal, runner: ClusterCronRunner, cluster: FakeCluster
) -> None:
    add(world, alice, deployed, "report", overlap="allow")

    run_id = cron.run_now(world.platform, alice, deployed, "report")

    assert cluster.started == [("shop", "report", f"shop-report-m{run_id}")]
    assert len(cluster.applied) == 1  # its CronJob is made first if it is not there yet
    [run] = runs(world)
    assert (run.status, run.trigger, run.backend_ref) == (
        "running",
        "manual",
        f"shop-report-m{run_id}",
    )
    cron.run_now(world.platform, alice, deployed, "report")
    with pytest.raises(TooManyRequests, match="2 cron run.s. of shop were going"):
        cron.run_now(world.platform, alice, deployed, "report")


def test_a_manifests_jobs_become_cronjobs_like_the_cli_ones(
    world: World, deployed: str, runner: ClusterCronRunner, cluster: FakeCluster
) -> None:
    with world.db.session() as session:
        app = get_app(session, deployed)
        cron.set_manifest_jobs(session, app, [cron.JobSpec("backup", "30 2 * * *", "true")])

    runner.sync()

    [[schedule]] = cluster.applied
    assert [(j.job, j.schedule) for j in schedule.jobs] == [("backup", "30 2 * * *")]
