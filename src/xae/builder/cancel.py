"""Cancelling a build from another thread (`xae builds:cancel`).

The build runs in its deploy's thread; a cancel arrives in an API request thread. The build
attaches the function that stops it (abort the engine's build request, kill its step
containers: the same path as its deadline) while it talks to the engine; a cancel calls it at
once, or, if it came before the build reached the engine, the build stops as soon as it
attaches. Once the build detached (the image is built), a cancel is too late and says so.

What it must never do: call the stop function while holding its lock (stopping waits on the
engine), or let a cancelled build be reported as a success.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Cancellation:
    """One build's cancel switch, shared by the build and whoever may cancel it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop: Callable[[], None] | None = None
        self._cancelled = False
        self._closed = False

    @property
    def cancelled(self) -> bool:
        with self._lock:
            return self._cancelled

    def cancel(self) -> bool:
        """Ask the build to stop; False if it is past the point where it can (built)."""
        with self._lock:
            if self._closed:
                return False
            self._cancelled = True
            stop = self._stop
        if stop is not None:
            stop()
        return True

    def attach(self, stop: Callable[[], None]) -> None:
        """The build reached the engine: `stop` ends it. Called at once if already cancelled."""
        with self._lock:
            self._stop = stop
            cancelled = self._cancelled
        if cancelled:
            stop()

    def detach(self) -> None:
        """The build left the engine: later cancels are not its business any more."""
        with self._lock:
            self._stop = None

    def close(self) -> bool:
        """The build is over: later cancels are refused. True if it was cancelled."""
        with self._lock:
            self._closed = True
            self._stop = None
            return self._cancelled
