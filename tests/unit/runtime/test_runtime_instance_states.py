"""What each backend reports as an instance's state is an `InstanceState` member, with the
word the API has always shown: docker's container states as the engine says them, the
kubernetes backend's derived from a pod's deletion, container states and phase."""

from __future__ import annotations

from typing import Any

import pytest
from lightkube import codecs
from lightkube.resources.core_v1 import Pod

from xae.domain.states import InstanceState
from xae.runtime.docker.backend import _ContainerSummary, _instance_from_summary
from xae.runtime.kubernetes import manifests as m
from xae.runtime.kubernetes.backend import _instance

DOCKER_ENGINE_STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")


def summary(state: str | None) -> _ContainerSummary:
    row: _ContainerSummary = {
        "Id": "c0ffee",
        "Names": ["/xae-shop-web-1"],
        "Created": 1_700_000_000,
        "Labels": {"xae.app": "shop", "xae.process": "web", "xae.release": "v2"},
    }
    if state is not None:
        row["State"] = state
    return row


@pytest.mark.parametrize("word", DOCKER_ENGINE_STATES)
def test_docker_reports_the_engines_state_as_the_member_of_that_word(word: str) -> None:
    state = _instance_from_summary(summary(word)).state
    assert isinstance(state, InstanceState) and state == word


def test_docker_reports_a_container_without_a_state_as_unknown() -> None:
    assert _instance_from_summary(summary(None)).state is InstanceState.UNKNOWN
    assert _instance_from_summary(summary("frozen-solid")).state is InstanceState.UNKNOWN


def test_only_a_running_instance_counts_as_running() -> None:
    running = [w for w in DOCKER_ENGINE_STATES if _instance_from_summary(summary(w)).running]
    assert running == ["running"]


def pod(
    *,
    phase: str | None = "Running",
    container: dict[str, Any] | None = None,
    deleting: bool = False,
    status: bool = True,
) -> Pod:
    meta: dict[str, Any] = {
        "name": "shop-web-1",
        "namespace": "xae-ann",
        "uid": "u1",
        "labels": {m.APP: "shop", m.PROCESS: "web", m.RELEASE: "2"},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    raw: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "web", "image": "x"}]},
    }
    if status:
        raw["status"] = {"phase": phase} if phase else {}
        if container is not None:
            raw["status"]["containerStatuses"] = [
                {
                    "name": "web",
                    "image": "x",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": container,
                }
            ]
    obj: Any = codecs.from_dict(raw)
    assert isinstance(obj, Pod)
    return obj


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (pod(deleting=True, container={"running": {}}), "terminating"),
        (pod(status=False), "pending"),
        (pod(phase="Pending", container={"waiting": {"reason": "ContainerCreating"}}), "starting"),
        (pod(container={"waiting": {"reason": "ImagePullBackOff"}}), "starting"),
        (pod(container={"waiting": {"reason": "CrashLoopBackOff"}}), "crashing"),
        (pod(container={"terminated": {"exitCode": 1}}), "exited"),
        (pod(container={"running": {}}), "running"),
        (pod(phase="Pending"), "pending"),
        (pod(phase="Running"), "running"),
        (pod(phase="Succeeded"), "exited"),
        (pod(phase="Failed"), "exited"),
        (pod(phase="Unknown"), "unknown"),
        (pod(phase=None), "pending"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_kubernetes_derives_each_pods_state_as_a_member(case: Pod, expected: str) -> None:
    state = _instance(case).state
    assert isinstance(state, InstanceState) and state == expected


def test_kubernetes_reports_a_phase_it_does_not_know_as_unknown() -> None:
    assert _instance(pod(phase="Hibernating")).state is InstanceState.UNKNOWN
