"""The enumerated states keep the words they always had (the store, the API and scripts hold
them), and every word a runtime backend reports is one of them."""

from __future__ import annotations

import pytest

from xae.domain.states import BuildStatus, InstanceState, ReleaseStatus

# What Docker's API reference documents for a container's `State` (`GET /containers/json`).
DOCKER_ENGINE_STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")


def test_build_and_release_statuses_are_the_words_the_store_has_always_held() -> None:
    # The build queue (issue 11) added three words after them; the old ones are unchanged.
    assert [s.value for s in BuildStatus] == [
        "running",
        "succeeded",
        "failed",
        "queued",
        "cancelled",
        "timed_out",
    ]
    assert [s.value for s in ReleaseStatus] == ["pending", "succeeded", "failed"]


def test_a_status_is_the_same_string_it_replaces() -> None:
    assert str(ReleaseStatus.SUCCEEDED) == "succeeded"
    assert f"{BuildStatus.FAILED}" == "failed"
    assert {"pending": "yellow"}[ReleaseStatus.PENDING] == "yellow"


@pytest.mark.parametrize("word", DOCKER_ENGINE_STATES)
def test_every_docker_container_state_is_an_instance_state_of_the_same_word(word: str) -> None:
    assert InstanceState.of(word).value == word


@pytest.mark.parametrize(
    "word", ["terminating", "crashing", "starting", "pending", "exited", "running", "unknown"]
)
def test_every_state_the_kubernetes_backend_derives_is_an_instance_state(word: str) -> None:
    assert InstanceState.of(word).value == word


def test_a_word_no_backend_documents_is_unknown_rather_than_an_error() -> None:
    assert InstanceState.of("hibernating") is InstanceState.UNKNOWN
    assert InstanceState.of("") is InstanceState.UNKNOWN


def test_every_instance_state_is_documented() -> None:
    import ast
    import inspect

    import xae.domain.states as states

    tree = ast.parse(inspect.getsource(states))
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "InstanceState"]
    documented = {
        stmt.targets[0].id
        for stmt, after in zip(cls.body, cls.body[1:], strict=False)
        if isinstance(stmt, ast.Assign)
        and isinstance(stmt.targets[0], ast.Name)
        and isinstance(after, ast.Expr)
        and isinstance(after.value, ast.Constant)
    }
    assert documented == {s.name for s in InstanceState}
