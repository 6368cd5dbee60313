"""When a rollout is done, still going, or failed: the rules, on hand-made cluster objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lightkube import codecs
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod

from xae.runtime.kubernetes import manifests as m
from xae.runtime.kubernetes.rollout import Wanted, evaluate


def deployment(
    *,
    spec_hash: str = "new",
    generation: int = 2,
    observed: int = 2,
    replicas: int = 2,
    updated: int = 2,
    available: int = 2,
    conditions: list[dict[str, Any]] | None = None,
) -> Deployment:
    obj: Any = codecs.from_dict(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "shop-web",
                "namespace": "xae-ann",
                "generation": generation,
                "labels": {m.APP: "shop", m.PROCESS: "web"},
                "annotations": {m.SPEC: spec_hash},
            },
            "spec": {
                "selector": {"matchLabels": {m.APP: "shop"}},
                "template": {"spec": {"containers": [{"name": "web", "image": "x"}]}},
            },
            "status": {
                "observedGeneration": observed,
                "replicas": replicas,
                "updatedReplicas": updated,
                "availableReplicas": available,
                "conditions": conditions or [],
            },
        }
    )
    assert isinstance(obj, Deployment)
    return obj


def pod(
    *,
    spec_hash: str = "new",
    waiting: str | None = None,
    restarts: int = 0,
    exit_code: int = 1,
    reason: str | None = None,
    created: str = "2026-01-01T00:00:00Z",
) -> Pod:
    state: dict[str, Any] = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    obj: Any = codecs.from_dict(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"shop-web-{spec_hash}",
                "namespace": "xae-ann",
                "creationTimestamp": created,
                "labels": {m.APP: "shop", m.PROCESS: "web", m.SPEC: spec_hash},
            },
            "spec": {"containers": [{"name": "web", "image": "x"}]},
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "web",
                        "image": "x",
                        "imageID": "",
                        "ready": False,
                        "restartCount": restarts,
                        "state": state,
                        "lastState": {"terminated": {"exitCode": exit_code, "reason": reason}}
                        if restarts
                        else {},
                    }
                ],
            },
        }
    )
    assert isinstance(obj, Pod)
    return obj


WANTED = {"web": Wanted(2, "new", generation=2)}


def test_done_when_every_new_pod_is_available_and_no_old_pod_is_left() -> None:
    assert evaluate({"web": deployment()}, WANTED, [pod()]).done


def test_waits_for_the_controller_to_see_the_new_spec() -> None:
    status = evaluate({"web": deployment(generation=3, observed=2)}, WANTED, [])
    assert not status.done and "controller" in status.waiting_for


def test_waits_while_old_pods_still_run() -> None:
    status = evaluate({"web": deployment(replicas=3, updated=2)}, WANTED, [])
    assert not status.done and "1 old instance(s) to stop" in status.waiting_for


def test_a_scale_down_is_done_only_once_the_extra_pods_are_gone() -> None:
    status = evaluate({"web": deployment(replicas=3, updated=3, available=3)}, WANTED, [])
    assert not status.done and "1 old instance(s) to stop" in status.waiting_for


def test_the_object_from_before_the_apply_says_nothing() -> None:
    # The watch cache may still hold the Deployment as it was before the apply: generation 1,
    # fully rolled out at 2 replicas. The apply answered with generation 2.
    stale = deployment(generation=1, observed=1)
    status = evaluate({"web": stale}, WANTED, [])
    assert not status.done and "new spec" in status.waiting_for


def test_waits_while_new_pods_are_not_ready() -> None:
    status = evaluate({"web": deployment(available=1)}, WANTED, [pod()])
    assert not status.done and status.failure is None and "to be ready" in status.waiting_for


def test_an_unpullable_image_fails_at_once_naming_the_pod() -> None:
    status = evaluate({"web": deployment(available=0)}, WANTED, [pod(waiting="ImagePullBackOff")])
    assert status.failure is not None
    assert "cannot be pulled" in status.failure.reason
    assert status.failure.pod == "shop-web-new"


def test_a_restarted_new_pod_fails_the_rollout() -> None:
    status = evaluate({"web": deployment(available=0)}, WANTED, [pod(restarts=1)])
    assert status.failure is not None
    assert "did not pass the health check" in status.failure.reason
    assert "exit code 1" in status.failure.reason


def test_a_rollout_failure_says_why_the_last_run_ended() -> None:
    killed = pod(restarts=1, exit_code=137, reason="OOMKilled")
    status = evaluate({"web": deployment(available=0)}, WANTED, [killed])
    assert status.failure is not None
    assert "last exit code 137: OOMKilled" in status.failure.reason


def test_old_pods_in_trouble_do_not_fail_a_new_rollout() -> None:
    status = evaluate(
        {"web": deployment(available=1)}, WANTED, [pod(spec_hash="old", waiting="CrashLoopBackOff")]
    )
    assert status.failure is None


def test_a_passed_progress_deadline_fails() -> None:
    stuck = deployment(
        available=0,
        conditions=[
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet has timed out progressing.",
            }
        ],
    )
    status = evaluate({"web": stuck}, WANTED, [pod()])
    assert status.failure is not None and "timed out" in status.failure.reason


def test_a_spec_not_applied_yet_is_waited_for() -> None:
    status = evaluate({"web": deployment(spec_hash="old")}, WANTED, [])
    assert not status.done and "new spec" in status.waiting_for


def test_a_config_error_fails_only_when_it_lasts() -> None:
    # "failed to sync secret cache" clears within seconds; a missing Secret does not.
    young = pod(waiting="CreateContainerConfigError", created="2026-01-01T00:00:00Z")
    moment = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    status = evaluate({"web": deployment(available=0)}, WANTED, [young], now=moment)
    assert status.failure is None
    later = moment + timedelta(minutes=1)
    status = evaluate({"web": deployment(available=0)}, WANTED, [young], now=later)
    assert status.failure is not None and "configuration is invalid" in status.failure.reason


@pytest.mark.parametrize(
    ("reason", "message", "says"),
    [
        (
            "ErrImagePull",
            'failed to pull and unpack image "127.0.0.1:9/x:v1": failed to resolve '
            "reference: unexpected status from GET request: 404 Not Found: SECRET-BODY",
            "not found",
        ),
        (
            "ImagePullBackOff",
            'Back-off pulling image "x": ErrImagePull: dial tcp 10.0.0.9:5000: '
            "connect: connection refused",
            "cannot be reached",
        ),
        ("ImagePullBackOff", "SECRET-BODY", "answered with an error (not shown)"),
    ],
)
def test_a_failed_pull_names_its_kind_and_never_the_registrys_answer(
    reason: str, message: str, says: str
) -> None:
    failing = pod(waiting=reason, created="2020-01-01T00:00:00Z")
    waiting = failing.status.containerStatuses[0].state.waiting  # type: ignore[union-attr,index]
    waiting.message = message  # type: ignore[union-attr]

    failure = evaluate({"web": deployment(available=0)}, WANTED, [failing]).failure

    assert failure is not None
    assert failure.reason.startswith("the image x cannot be pulled: ")
    assert says in failure.reason
    assert f"({reason})" in failure.reason
    assert "SECRET-BODY" not in failure.reason
