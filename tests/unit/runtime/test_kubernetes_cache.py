"""A broken watch lists again after a growing pause, and the pause starts over after a good list.

The client is a script of what the API server does; the pause is recorded instead of waited.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lightkube.resources.core_v1 import Pod

from xae.domain.backoff import Backoff
from xae.runtime.kubernetes.cache import RECONNECT, ClusterCache


class Down(Exception):
    """The API server cannot be reached."""


class ScriptedClient:
    """`list` answers from a script ("down" raises, "ok" lists nothing); every watch breaks at
    once. When the script runs out the cache is stopped."""

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.cache: ClusterCache | None = None

    def list(self, res: type[Any], **_: Any) -> list[Any]:
        if not self.script:
            assert self.cache is not None
            self.cache.stop()
            raise Down()
        if self.script.pop(0) == "down":
            raise Down()
        return []

    def watch(self, res: type[Any], **_: Any) -> Iterator[tuple[str, Any]]:
        raise Down()


def run(script: list[str], reconnect: Backoff = RECONNECT) -> list[float]:
    client = ScriptedClient(script)
    pauses: list[float] = []
    cache = ClusterCache(
        client,  # type: ignore[arg-type]
        "test",
        reconnect=reconnect,
        rand=lambda: 0.0,
        pause=pauses.append,
    )
    client.cache = cache
    cache._run("pods", Pod, cache.pods)  # the watch loop of one kind, on this thread
    return pauses


def test_a_watch_that_keeps_breaking_waits_longer_before_each_new_list() -> None:
    pauses = run(["down"] * 8)
    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_a_successful_list_starts_the_pauses_over() -> None:
    # down, down, a good list whose watch then breaks, down: the third pause is short again.
    pauses = run(["down", "down", "ok", "down"])
    assert pauses == [1.0, 2.0, 1.0, 2.0]


def test_the_longest_pause_is_the_cap() -> None:
    pauses = run(["down"] * 5, reconnect=Backoff(first=1.0, cap=3.0))
    assert max(pauses) == 3.0
