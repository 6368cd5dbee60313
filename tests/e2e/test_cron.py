"""Cron jobs, as a user drives them: add one, see it listed with its next run, run it now and
read what it printed, see the scheduler run it at its minute, and bad input refused; on
kubernetes, the job as a CronJob in the cluster; one app at its limit of runs at once never
keeping another app's jobs from running."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import Plane, wait_for
from tests.e2e.test_kubernetes import objects

pytestmark = pytest.mark.e2e

WRITE_LINE = "python -c \"import os; print('cron says hi to', os.environ['GREETING'])\""


def finished_runs(plane: Plane, app: str, trigger: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = plane.xae_json("cron:runs", "--app", app)
    return [r for r in runs if r["trigger"] == trigger and r["status"] != "running"]


@pytest.mark.backends("docker")  # the cluster's side: the test on kubernetes below
def test_a_cron_job_runs_on_its_schedule_and_by_hand_and_its_output_is_kept(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    source = app_source("release-phase")
    (source / "Procfile").write_text("web: python app.py\n")
    app = plane.new_app("cron")
    plane.xae("config:set", "GREETING=the-team", "--app", app)  # v1
    plane.deploy(app, source)  # v2, the current release every run uses

    added = plane.xae("cron:add", "hello", "* * * * *", WRITE_LINE, "--app", app)
    assert "cron job hello" in added.stdout
    [job] = plane.xae_json("cron", "--app", app)
    assert (job["schedule"], job["zone"], job["overlap"], job["source"]) == (
        "* * * * *",
        "UTC",
        "skip",
        "cli",
    )
    assert job["next_run_at"]

    started = plane.xae_json("cron:run", "hello", "--app", app)
    [manual] = wait_for(
        lambda: finished_runs(plane, app, "manual"), timeout=120, what="the manual run to end"
    )
    assert manual["id"] == started["id"]
    assert (manual["status"], manual["exit_code"], manual["release"]) == ("succeeded", 0, 2)
    assert manual["duration"] is not None
    logs = plane.xae("cron:logs", str(manual["id"]), "--app", app).stdout
    assert "cron says hi to the-team" in logs

    # The scheduler's own run, at a minute's start. One due while the manual run still ran is
    # skipped (the default overlap policy), and the next minute's runs.
    [scheduled] = wait_for(
        lambda: [r for r in finished_runs(plane, app, "schedule") if r["status"] != "skipped"][:1],
        timeout=150,
        what="a scheduled run of `* * * * *`",
        interval=2,
    )
    assert scheduled["status"] == "succeeded"
    for skipped in (r for r in finished_runs(plane, app, "schedule") if r["status"] == "skipped"):
        assert "the previous run still runs" in skipped["reason"]
    logs = plane.xae("cron:logs", str(scheduled["id"]), "--app", app).stdout
    assert "cron says hi to the-team" in logs

    plane.xae("cron:remove", "hello", "--app", app)
    assert plane.xae_json("cron", "--app", app) == []


@pytest.mark.backends("docker")
def test_a_bad_schedule_or_zone_is_refused_naming_it(plane: Plane) -> None:
    app = plane.new_app("badcron")

    bad = plane.xae("cron:add", "job", "61 * * * *", "true", "--app", app, check=False)
    assert bad.returncode != 0
    assert "the schedule '61 * * * *' does not parse" in bad.stdout + bad.stderr

    short = plane.xae("cron:add", "job", "* * *", "true", "--app", app, check=False)
    assert short.returncode != 0
    assert "has 3 field(s)" in short.stdout + short.stderr

    zone = plane.xae(
        "cron:add", "job", "0 3 * * *", "true", "--zone", "Mars/Olympus", "--app", app,
        check=False,
    )  # fmt: skip
    assert zone.returncode != 0
    assert "unknown time zone 'Mars/Olympus'" in zone.stdout + zone.stderr
    assert plane.xae_json("cron", "--app", app) == []


@pytest.mark.backends("kubernetes")
def test_on_kubernetes_a_cron_job_is_a_cronjob_whose_runs_and_skips_are_recorded(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    """One test for the cluster's side, since each scheduled run waits for a minute's start:
    the CronJob as built, a run by hand, the cluster's own run, a time it skipped, and removal
    (of a job, and of the app) leaving nothing behind."""
    source = app_source("release-phase")
    (source / "Procfile").write_text("web: python app.py\n")
    app = plane.new_app("kcron")
    plane.xae("config:set", "GREETING=the-cluster", "--app", app)
    plane.deploy(app, source)
    [deployment] = objects(plane, "deployments", app)
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]

    plane.xae("cron:add", "tick", "* * * * *", WRITE_LINE, "--zone", "Europe/Paris", "--app", app)
    [cronjob] = wait_for(
        lambda: objects(plane, "cronjobs", app), timeout=30, what="the job's CronJob"
    )
    spec = cronjob["spec"]
    assert (spec["schedule"], spec["timeZone"]) == ("* * * * *", "Europe/Paris")
    assert spec["concurrencyPolicy"] == "Forbid"
    job_spec = spec["jobTemplate"]["spec"]
    assert job_spec["template"]["spec"]["containers"][0]["image"] == image
    assert "the-cluster" not in json.dumps(cronjob)  # config from a Secret, not the spec

    # By hand: a Job made from the CronJob, recorded with what it printed.
    started = plane.xae_json("cron:run", "tick", "--app", app)
    [manual] = wait_for(
        lambda: finished_runs(plane, app, "manual"), timeout=120, what="the manual run to end"
    )
    assert (manual["id"], manual["status"], manual["exit_code"]) == (started["id"], "succeeded", 0)
    assert (
        "cron says hi to the-cluster"
        in plane.xae("cron:logs", str(manual["id"]), "--app", app).stdout
    )

    # A job whose run outlasts its minute: the cluster (Forbid) skips the next time, and xae
    # records that as the docker scheduler records its own skips. Added after the manual run,
    # so the per-app limit of runs at once never refuses that one.
    slow = "python -c \"import time; print('started', flush=True); time.sleep(100)\""
    plane.xae("cron:add", "slow", "* * * * *", slow, "--app", app)  # overlap: skip

    # The cluster starts the runs at the minute; xae records them, with what they printed.
    [scheduled] = wait_for(
        lambda: [
            r
            for r in finished_runs(plane, app, "schedule")
            if r["job"] == "tick" and r["status"] != "skipped"
        ][:1],
        timeout=150,
        what="the cluster's run of `* * * * *` recorded",
        interval=2,
    )
    assert (scheduled["status"], scheduled["exit_code"], scheduled["release"]) == (
        "succeeded",
        0,
        2,
    )
    logs = plane.xae("cron:logs", str(scheduled["id"]), "--app", app).stdout
    assert "cron says hi to the-cluster" in logs
    [skipped] = wait_for(
        lambda: [
            r
            for r in finished_runs(plane, app, "schedule")
            if r["job"] == "slow" and r["status"] == "skipped"
        ][:1],
        timeout=150,
        what="a time the cluster skipped, recorded",
        interval=2,
    )
    assert "the previous run still runs" in skipped["reason"]
    runs = plane.xae_json("cron:runs", "--app", app)
    assert [r["status"] for r in runs if r["job"] == "slow"].count("running") == 1  # never two

    for job in ("tick", "slow"):
        plane.xae("cron:remove", job, "--app", app)
    wait_for(
        lambda: not objects(plane, "cronjobs", app) and not objects(plane, "jobs", app),
        timeout=60,
        what="the CronJobs and their Jobs (one still running) deleted",
    )

    # Destroying the app takes its cron jobs' objects too: nothing is left behind.
    plane.xae("cron:add", "again", "0 3 * * *", WRITE_LINE, "--app", app)
    wait_for(lambda: objects(plane, "cronjobs", app), timeout=30, what="the new CronJob")
    plane.xae("apps:destroy", app, "--confirm", app)
    plane.apps.remove(app)
    kinds = "cronjobs,jobs,pods,secrets"
    wait_for(lambda: objects(plane, kinds, app) == [], timeout=90, what=f"{app}'s cron objects")


@pytest.mark.backends("docker")
def test_one_app_at_its_limit_of_cron_runs_does_not_keep_another_apps_jobs_from_running(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    source = app_source("release-phase")
    (source / "Procfile").write_text("web: python app.py\n")
    busy, other = plane.new_app("cronbusy"), plane.new_app("cronfree")
    for app in (busy, other):
        plane.xae("config:set", "GREETING=the-team", "--app", app)
        plane.deploy(app, source)
    never = "0 0 1 1 *"  # only by hand here
    sleep = 'python -c "import time; time.sleep(40)"'
    for name in ("one", "two", "three"):
        plane.xae("cron:add", name, never, sleep, "--overlap", "allow", "--app", busy)
    plane.xae("cron:add", "hello", never, WRITE_LINE, "--app", other)

    plane.xae("cron:run", "one", "--app", busy)
    plane.xae("cron:run", "two", "--app", busy)
    refused = plane.xae("cron:run", "three", "--app", busy, check=False)
    assert refused.returncode != 0
    assert f"2 cron run(s) of {busy} were going" in refused.stdout + refused.stderr

    started = plane.xae_json("cron:run", "hello", "--app", other)
    [run] = wait_for(
        lambda: finished_runs(plane, other, "manual"), timeout=60, what="the other app's run"
    )
    assert (run["id"], run["status"]) == (started["id"], "succeeded")
    assert (
        "cron says hi to the-team" in plane.xae("cron:logs", str(run["id"]), "--app", other).stdout
    )
    assert [r["status"] for r in plane.xae_json("cron:runs", "--app", busy)] == ["running"] * 2
