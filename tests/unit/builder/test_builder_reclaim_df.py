"""The engine counts disk usage one request at a time: a second one is refused while the first
runs. The reclaimer waits such a count out instead of failing `xae gc` or `xae status`."""

from __future__ import annotations

import time
from typing import Any

import docker.errors
import pytest

from xae.builder.reclaim import DockerReclaimer
from xae.errors import RuntimeUnavailable


class _Api:
    def __init__(self, busy: int, error: str = "a disk usage operation is already running") -> None:
        self.busy, self.error, self.calls = busy, error, 0

    def df(self) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.busy:
            raise docker.errors.APIError("500 Server Error", explanation=self.error)
        return {"Images": [], "BuildCache": []}


class _Client:
    def __init__(self, api: _Api) -> None:
        self.api = api


def _reclaimer(api: _Api) -> DockerReclaimer:
    return DockerReclaimer(_Client(api), "p")


def test_a_count_someone_else_runs_is_waited_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    api = _Api(busy=3)
    assert _reclaimer(api)._df() == {"Images": [], "BuildCache": []}
    assert api.calls == 4


def test_another_engine_error_fails_at_once_saying_what_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    api = _Api(busy=1, error="no space left on device")
    with pytest.raises(RuntimeUnavailable, match="disk usage failed"):
        _reclaimer(api)._df()
    assert api.calls == 1


def test_a_count_that_never_frees_gives_up_after_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(0, 10_000, 10))
    monkeypatch.setattr(time, "monotonic", lambda: float(next(clock)))
    monkeypatch.setattr(time, "sleep", lambda _: None)
    api = _Api(busy=10_000)
    with pytest.raises(RuntimeUnavailable, match="already running"):
        _reclaimer(api)._df()
    assert api.calls < 20
