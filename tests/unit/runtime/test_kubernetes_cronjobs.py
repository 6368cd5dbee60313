"""A cron job as a Kubernetes CronJob (pure): its schedule, zone and concurrency policy, Jobs
confined exactly as a one-off Job is, its own config Secret, and runs by hand from its
template, as `kubectl create job --from=cronjob/...` makes them."""

from __future__ import annotations

from typing import Any

from lightkube import codecs
from tests.unit.runtime.test_oneoff_specs import spec

from xae.runtime.base import ScheduledSpec
from xae.runtime.kubernetes import manifests as m
from xae.runtime.kubernetes.backend import _cluster_run


def scheduled(**overrides: Any) -> ScheduledSpec:
    values: dict[str, Any] = dict(
        job="digest",
        schedule="0 8 * * 1",
        zone="Europe/Paris",
        allow_overlap=False,
        starting_deadline=60,
        oneoff=spec(kind="cron", name="cron-digest", command="python digest.py", timeout=600),
    )
    values.update(overrides)
    return ScheduledSpec(**values)


def test_a_cron_job_is_a_cronjob_with_its_schedule_zone_and_overlap_policy() -> None:
    cronjob = m.cron_job("t1", "xae-t1-alice", scheduled())

    assert (cronjob["apiVersion"], cronjob["kind"]) == ("batch/v1", "CronJob")
    assert cronjob["metadata"]["name"] == "shop-digest"
    assert cronjob["metadata"]["namespace"] == "xae-t1-alice"
    assert cronjob["metadata"]["labels"][m.APP] == "shop"
    assert cronjob["metadata"]["labels"][m.CRON] == "digest"
    body = cronjob["spec"]
    assert (body["schedule"], body["timeZone"]) == ("0 8 * * 1", "Europe/Paris")
    assert body["concurrencyPolicy"] == "Forbid"
    assert body["startingDeadlineSeconds"] == 60
    assert body["successfulJobsHistoryLimit"] == body["failedJobsHistoryLimit"] == m.CRON_HISTORY
    allowed = m.cron_job("t1", "xae-t1-alice", scheduled(allow_overlap=True))
    assert allowed["spec"]["concurrencyPolicy"] == "Allow"


def test_a_cron_jobs_runs_are_confined_as_one_off_jobs_and_read_the_cron_config() -> None:
    oneoff = m.oneoff_job("t1", "xae-t1-alice", scheduled().oneoff)
    template = m.cron_job("t1", "xae-t1-alice", scheduled())["spec"]["jobTemplate"]

    body = template["spec"]
    assert (body["backoffLimit"], body["activeDeadlineSeconds"]) == (0, 600)
    assert body["ttlSecondsAfterFinished"] == m.CRON_TTL
    pod, plain = body["template"]["spec"], oneoff["spec"]["template"]["spec"]
    container, plain_container = pod["containers"][0], plain["containers"][0]
    # Everything but where its config comes from is the one-off Job's.
    assert container["envFrom"] == [
        {"secretRef": {"name": m.cron_secret_name("shop", scheduled().oneoff.env)}}
    ]
    assert {**container, "envFrom": None} == {**plain_container, "envFrom": None}
    assert {**pod, "containers": None} == {**plain, "containers": None}
    assert container["image"] == "xae/shop:b7"
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False
    labels = body["template"]["metadata"]["labels"]
    # The app's labels (its NetworkPolicy applies), a one-off's (never an instance), the job.
    assert labels[m.APP] == "shop" and labels[m.ONEOFF] == "cron" and labels[m.CRON] == "digest"
    assert labels[m.RELEASE] == "7"
    assert template["metadata"]["labels"] == labels


def test_a_cron_config_secret_is_immutable_and_kept_apart_from_the_deployments_config() -> None:
    env = scheduled().oneoff.env
    secret = m.cron_secret("t1", "xae-t1-alice", "shop", env)

    assert secret["metadata"]["name"] == m.cron_secret_name("shop", env)
    assert secret["metadata"]["name"] != m.secret_name("shop", env)
    assert secret["immutable"] is True and secret["stringData"] == env
    assert secret["metadata"]["labels"][m.CRON] == ""
    assert m.cron_secret_name("shop", {**env, "X": "1"}) != secret["metadata"]["name"]


def test_a_cronjob_changes_its_manifest_hash_with_the_release_and_nothing_else() -> None:
    def digest(s: ScheduledSpec) -> str:
        return str(m.cron_job("t1", "ns", s)["metadata"]["annotations"][m.MANIFEST])

    base = scheduled()
    assert digest(base) == digest(scheduled())
    newer = scheduled(oneoff=spec(kind="cron", name="cron-digest", image="xae/shop:b8"))
    assert digest(newer) != digest(base)
    assert digest(scheduled(zone="UTC")) != digest(base)


def test_a_run_by_hand_is_a_job_from_the_cronjobs_template_owned_by_it() -> None:
    cronjob = m.cron_job("t1", "xae-t1-alice", scheduled())
    cronjob["metadata"]["uid"] = "0b1c"

    job = m.manual_job(cronjob, "shop-digest-m42")

    assert (job["kind"], job["metadata"]["name"]) == ("Job", "shop-digest-m42")
    assert job["metadata"]["namespace"] == "xae-t1-alice"
    assert job["spec"] == cronjob["spec"]["jobTemplate"]["spec"]
    assert job["metadata"]["labels"][m.CRON] == "digest"
    assert job["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    [owner] = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("CronJob", "shop-digest", "0b1c")


def test_the_longest_names_fit_what_kubernetes_allows() -> None:
    app, job = "a" * 30, "j" * 20
    assert len(m.cron_job_name(app, job)) <= 52
    assert len(m.cron_secret_name(app, {})) <= 63


def job_and_pod(waiting: str | None) -> tuple[Any, Any]:
    labels = {m.APP: "shop", m.CRON: "digest", m.RELEASE: "3"}
    job = codecs.from_dict(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "shop-digest-1", "namespace": "xae-t", "labels": labels},
            "status": {"startTime": "2026-06-01T12:00:01Z", "active": 1},
        }
    )
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    pod = codecs.from_dict(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "shop-digest-1-x", "namespace": "xae-t", "labels": labels},
            "status": {
                "phase": "Pending" if waiting else "Running",
                "containerStatuses": [
                    {
                        "name": "cron",
                        "image": "r/shop:3",
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "state": state,
                    }  # fmt: skip
                ],
            },
        }
    )
    return job, pod


def test_a_run_whose_container_cannot_start_is_reported_stuck_and_one_starting_is_not() -> None:
    for waiting, stuck in (("ErrImagePull", "ErrImagePull"), ("ContainerCreating", ""), (None, "")):
        job, pod = job_and_pod(waiting)
        run = _cluster_run(job, {("xae-t", "shop-digest-1"): pod})
        assert (run.outcome, run.stuck, run.release) == ("running", stuck, 3), waiting
