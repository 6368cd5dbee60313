"""The pre-receive hook's decision over a push of several branches: refused while nothing it
deployed serves yet; once something does, a later failure is reported and the refs are stored,
since git refuses every ref of a push or none (a refused push would leave the deploy branch's
ref behind the release that serves its commit)."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from xae.codecenter import hook

A, B, C = "a" * 40, "b" * 40, "c" * 40
ZERO = "0" * 40


def steps(results: list[int], ran: list[str]) -> list[tuple[str, Callable[[], int]]]:
    def step(name: str, code: int) -> Callable[[], int]:
        def run() -> int:
            ran.append(name)
            return code

        return run

    return [(f"step {n}", step(f"step {n}", code)) for n, code in enumerate(results)]


def test_a_failure_before_anything_changed_refuses_the_push_and_stops() -> None:
    ran: list[str] = []
    assert hook.run_steps(steps([1, 0], ran)) == 1
    assert ran == ["step 0"]


def test_a_failure_after_a_deploy_served_is_reported_and_the_refs_are_stored(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran: list[str] = []
    assert hook.run_steps(steps([0, 1, 0], ran)) == 0
    assert ran == ["step 0", "step 1", "step 2"]  # the rest still runs
    out = capsys.readouterr().out
    assert " !     failed: step 1" in out
    assert "push the branch again" in out


def test_the_deploy_branch_goes_first_then_previews_then_removals(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[str, str]] = []

    def deploy(update: object, branch: str, path: str, secret: str, action: str = "deploy") -> int:
        calls.append((action, branch))
        return 1 if branch == "feature" else 0

    def close(branch: str, path: str, secret: str) -> int:
        calls.append(("remove", branch))
        return 0

    monkeypatch.setattr(hook, "deploy", deploy)
    monkeypatch.setattr(hook, "close_preview", close)
    for name, value in (
        (hook.SOCKET_ENV, "/run/x.sock"),
        (hook.SECRET_ENV, "s"),
        (hook.BRANCH_ENV, "main"),
        (hook.PREVIEWS_ENV, "1"),
    ):
        monkeypatch.setenv(name, value)
    pushed = f"{A} {B} refs/heads/feature\n{A} {C} refs/heads/main\n{A} {ZERO} refs/heads/old\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(pushed))

    assert hook.main() == 0  # main deployed first: the feature's failure cannot refuse it
    assert calls == [("deploy", "main"), ("preview", "feature"), ("remove", "old")]
    assert "failed: deploying bbbbbbb of 'feature' to its preview app" in capsys.readouterr().out
