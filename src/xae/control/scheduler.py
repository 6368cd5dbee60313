"""Running each app's reconcile pass on its own, so one app never delays another's healing.

The reconciler used to visit every app in turn on one thread: an app whose health check hung
held the others' dead instances unreplaced for as long as its check tried. Here every app's pass
is a task of its own on a small set of worker threads:

- an app has at most one task queued or running: a pass that still runs is never queued again,
  so a slow app cannot pile up work;
- a task that runs past its deadline stops counting against the workers: another worker thread
  starts for the queue, up to a hard cap, so a slow app delays only itself (threads cannot be
  cancelled; a slow task finishes on its own, bounded by its app's health check bound);
- worker threads beyond the base number end when they have been idle for a while.

It knows nothing of apps: tasks are callables under a key. It must never run two tasks of one
key at once, and never let a task's exception end a worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger("xae.reconciler")
IDLE_EXIT = 10.0
"""Seconds an extra worker (beyond the base number) stays without work before it ends."""


class AppScheduler:
    def __init__(
        self,
        *,
        workers: int,
        max_workers: int,
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= workers <= max_workers:
            raise ValueError("need 1 <= workers <= max_workers")
        self.workers = workers
        self.max_workers = max_workers
        self.deadline = deadline
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, Callable[[], object]]] = deque()
        self._queued: set[str] = set()
        self._running: dict[str, float] = {}
        self._threads: set[threading.Thread] = set()
        self._idle = 0
        self._stopping = False
        self._warned_full = False

    def submit(self, key: str, task: Callable[[], object]) -> bool:
        """Queue `task` as `key`'s next pass. Returns False, queueing nothing, while `key`
        already has a pass queued or running."""
        with self._cond:
            if self._stopping or key in self._queued or key in self._running:
                return False
            self._queue.append((key, task))
            self._queued.add(key)
            self._grow()
            self._cond.notify_all()
            return True

    def poke(self) -> None:
        """Start workers for queued tasks if running ones passed their deadline since the last
        submit; the reconciler calls this on every tick."""
        with self._cond:
            self._grow()

    def running(self) -> dict[str, float]:
        """Seconds each key's running task has run."""
        now = self._clock()
        with self._cond:
            return {key: now - started for key, started in self._running.items()}

    def overdue(self) -> dict[str, float]:
        """Like `running`, only the tasks past their deadline."""
        return {k: s for k, s in self.running().items() if s >= self.deadline}

    def queued(self) -> list[str]:
        with self._cond:
            return [key for key, _ in self._queue]

    @property
    def threads(self) -> int:
        with self._cond:
            return len(self._threads)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or running; False if that took longer than `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(timeout=min(left, 0.5))
                self._grow()
            return True

    def stop(self, timeout: float = 10.0) -> None:
        """Drop what is queued, let running tasks finish (up to `timeout`), end the workers."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._queued.clear()
            self._cond.notify_all()
            threads = list(self._threads)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    # -- internals (called with `_cond` held) -----------------------------------------------

    def _grow(self) -> None:
        if self._stopping:
            return
        now = self._clock()
        overdue = sum(1 for started in self._running.values() if now - started >= self.deadline)
        while len(self._queue) > self._idle:
            if len(self._threads) - overdue >= self.workers:
                return  # every slot busy with a task within its deadline: it ends soon
            if len(self._threads) >= self.max_workers:
                if not self._warned_full:
                    log.warning(
                        "all %d reconcile workers are busy with slow apps (%s); other apps "
                        "wait until one finishes",
                        self.max_workers,
                        ", ".join(sorted(self._running)),
                    )
                    self._warned_full = True
                return
            self._warned_full = False
            thread = threading.Thread(target=self._work, name="xae-reconcile", daemon=True)
            self._threads.add(thread)
            self._idle += 1
            thread.start()

    def _next(self) -> tuple[str, Callable[[], object]] | None:
        """Wait for a task; None when this worker should end."""
        me = threading.current_thread()
        with self._cond:
            while not self._queue:
                if self._stopping:
                    self._leave(me)
                    return None
                woke = self._cond.wait(timeout=IDLE_EXIT)
                if not woke and not self._queue and len(self._threads) > self.workers:
                    self._leave(me)
                    return None
            if self._stopping:
                self._leave(me)
                return None
            key, task = self._queue.popleft()
            self._queued.discard(key)
            self._running[key] = self._clock()
            self._idle -= 1
            return key, task

    def _leave(self, me: threading.Thread) -> None:
        self._threads.discard(me)
        self._idle -= 1
        self._cond.notify_all()
        return None

    def _work(self) -> None:
        while (item := self._next()) is not None:
            key, task = item
            try:
                task()
            except Exception:
                # Tasks report their own failures; this only keeps the worker alive.
                log.exception("the reconcile task of %s raised", key)
            finally:
                with self._cond:
                    del self._running[key]
                    self._idle += 1
                    self._cond.notify_all()
