"""Delivering deploy notifications (webhooks) in the background, with bounded retries.

A deploy never waits for a receiver and never fails because of one: the pipeline hands an
event to `Notifier.publish`, which only reads the app's hooks and queues one delivery per hook;
a worker thread sends them. A delivery that gets no answer, a timeout, 429 or a 5xx is tried
again after a growing delay (`hook_backoff`, doubled each time) up to `hook_attempts` times;
a 4xx answer is final (the receiver refused it). Every attempt is one row of the delivery log
(status code, attempt, time, error), which `xae hooks:deliveries` shows; the log keeps the
newest `DELIVERIES_KEPT` attempts per hook.

Each attempt resolves the hook's host, checks every address against the platform's policy
(`xae.domain.hooks.address_refusal`) and connects to the checked address itself (TLS still
verifies the certificate for the host name), so DNS cannot point a checked name elsewhere
between the check and the request. The receiver's answer is never stored or shown: only its
status code (a receiver is tenant-controlled, and an error text could echo anything).

Each pending delivery is also a row of the outbox (`HookOutbox`: the hook, the body as signed,
the next attempt's number and when it is due), written when the event is queued, moved on by
every failed attempt and deleted once it is delivered or given up. A restarted control plane
calls `resume`, which queues the outbox again (at most `RESUME_MAX`, the earliest due first;
the rest are given up and logged as such), so a retry a restart interrupted still happens, with
the same delivery id, body and attempt count, through the same checks as any attempt. Removing
a hook (or its app) removes its outbox rows, and a queued attempt whose row is gone is dropped.
The clocks and the transport are handed in, so the retry rules are unit-tested without a
network or sleeping.

What it must never do: block or fail a deploy, follow a redirect (it could lead inside), send
a request to an address it did not check, or log a hook's secret.
"""

from __future__ import annotations

import heapq
import http.client
import ipaddress
import itertools
import json
import logging
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, select

from xae.codecenter.image_policy import platform_addresses, resolve_host
from xae.config import Settings
from xae.domain.hooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    HookTarget,
    address_refusal,
    literal_address,
    parse_cidrs,
    parse_hook_url,
    refused,
    retry_delay,
    retryable,
    sign,
)
from xae.domain.registries import Address, PlatformAddresses
from xae.errors import XaeError
from xae.store.db import Database
from xae.store.models import Hook, HookDelivery, HookOutbox, utcnow
from xae.store.sealed import Vault

log = logging.getLogger("xae.codecenter.notify")

DELIVERIES_KEPT = 100
"""Attempts kept in the delivery log per hook."""

RESUME_MAX = 1000
"""Pending deliveries a starting control plane resumes; any beyond are given up (logged)."""

USER_AGENT = "xae-hooks/1"


class Transport(Protocol):
    """Sends one request to `address` (already checked) for `target`; the status code, or
    `OSError` when no answer came."""

    def __call__(
        self, target: HookTarget, address: str, headers: dict[str, str], body: bytes, timeout: float
    ) -> int: ...


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a fixed address, verifying the certificate for the URL's host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def http_transport(
    target: HookTarget, address: str, headers: dict[str, str], body: bytes, timeout: float
) -> int:
    """The real transport: one POST, no redirects followed, the answer's body not read beyond
    a little (so a huge answer costs nothing)."""
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = kind(target.host, address, target.port, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(1024)
        return response.status
    except (http.client.HTTPException, ssl.SSLError) as e:
        raise OSError(type(e).__name__) from e
    finally:
        connection.close()


class _Unresolved(Exception):
    """The hook's host name does not resolve (now: DNS may recover, so it is retried)."""


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    hook_id: int = field(compare=False)
    app_id: int = field(compare=False)
    url: str = field(compare=False)
    secret: str = field(compare=False, repr=False)
    event: str = field(compare=False)
    delivery: str = field(compare=False)
    body: bytes = field(compare=False, repr=False)
    attempt: int = field(compare=False, default=1)
    outbox_id: int | None = field(compare=False, default=None)
    """Its `HookOutbox` row (None: not persisted, e.g. the row could not be written)."""


class Notifier:
    """Queues and delivers one control plane's notifications (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        settings: Settings,
        *,
        transport: Transport = http_transport,
        resolve: Callable[[str], list[str]] = resolve_host,
        platform: Callable[[], PlatformAddresses] | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
        background: bool = True,
    ) -> None:
        """`clock` orders the queue (monotonic seconds); `now` is the wall clock the outbox
        records due times in (naive UTC, like the store). `background=False`: no worker
        thread; the caller runs `run_due` (unit tests)."""
        self._db, self._vault, self._settings = db, vault, settings
        self._transport, self._resolve, self._clock = transport, resolve, clock
        self._now = now
        self._resumed = False
        self._platform = platform or (lambda: platform_addresses(settings))
        self._jobs: list[_Job] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._background = background

    # -- the pipeline's side ----------------------------------------------------------------

    def publish(self, app_id: int, kind: str, event: str, payload: dict[str, Any]) -> int:
        """Queue `payload` as event `event` (`build.succeeded`, ...) for every hook of the app
        subscribed to `kind`; returns how many deliveries were queued. Never raises: a deploy
        does not fail because of its notifications."""
        try:
            return self._publish(app_id, kind, event, payload)
        except Exception:
            log.exception("queueing the %s notifications of app %s failed", event, app_id)
            return 0

    def _publish(self, app_id: int, kind: str, event: str, payload: dict[str, Any]) -> int:
        delivery = uuid.uuid4().hex
        body = json.dumps(
            {"id": delivery, "event": event, **payload}, sort_keys=True, separators=(",", ":")
        ).encode()
        now = self._clock()
        jobs = []
        with self._db.session() as session:
            for hook in session.scalars(select(Hook).where(Hook.app_id == app_id)):
                if kind not in hook.events:
                    continue
                row = HookOutbox(
                    hook_id=hook.id,
                    app_id=app_id,
                    delivery=delivery,
                    event=event,
                    body=body.decode(),
                    attempt=1,
                    due_at=self._now(),
                )
                session.add(row)
                session.flush()
                secret = self._vault.open(hook.secret_sealed)["secret"]
                seq = next(self._seq)
                jobs.append(
                    _Job(now, seq, hook.id, app_id, hook.url, secret, event, delivery, body)
                )
                jobs[-1].outbox_id = row.id
        self._queue(jobs)
        return len(jobs)

    def _queue(self, jobs: list[_Job]) -> None:
        if not jobs:
            return
        with self._cond:
            for job in jobs:
                heapq.heappush(self._jobs, job)
            self._cond.notify_all()
        self._ensure_worker()

    # -- a restarted control plane ----------------------------------------------------------

    def resume(self, limit: int = RESUME_MAX) -> int:
        """Queue the deliveries a previous process left pending (the outbox), each due when
        it was due (now, if that has passed); returns how many. Once per process: the outbox
        of this process's own events is in memory already. Beyond `limit`, the rest are given
        up, each with a line in the delivery log."""
        with self._cond:
            if self._resumed:
                return 0
            self._resumed = True
        jobs: list[_Job] = []
        dropped: list[_Job] = []
        clock, wall = self._clock(), self._now()
        with self._db.session() as session:
            rows = session.execute(
                select(HookOutbox, Hook)
                .join(Hook, Hook.id == HookOutbox.hook_id)
                .order_by(HookOutbox.due_at, HookOutbox.id)
            ).tuples()
            for row, hook in rows:
                wait = max(0.0, (row.due_at - wall).total_seconds())
                job = _Job(
                    clock + wait,
                    next(self._seq),
                    hook.id,
                    row.app_id,
                    hook.url,
                    "",
                    row.event,
                    row.delivery,
                    row.body.encode(),
                    row.attempt,
                    row.id,
                )
                if len(jobs) >= limit:
                    dropped.append(job)
                    continue
                job.secret = self._vault.open(hook.secret_sealed)["secret"]
                jobs.append(job)
        for job in dropped:
            error = f"given up: more than {limit} deliveries were pending when xae started"
            self._record(job, None, False, error, None)
        if jobs:
            log.info("resuming %d pending webhook deliveries", len(jobs))
        self._queue(jobs)
        return len(jobs)

    # -- the worker -------------------------------------------------------------------------

    def run_due(self) -> float | None:
        """Send every delivery that is due now; the clock time the next one is due (None:
        nothing pending). The worker thread calls this; unit tests call it directly."""
        while True:
            with self._cond:
                if not self._jobs:
                    return None
                if self._jobs[0].due > self._clock():
                    return self._jobs[0].due
                job = heapq.heappop(self._jobs)
            self._attempt(job)

    def pending(self) -> int:
        with self._cond:
            return len(self._jobs)

    def _ensure_worker(self) -> None:
        with self._cond:
            if not self._background or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._work, name="xae-hooks", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            try:
                due = self.run_due()
            except Exception:
                log.exception("the webhook worker hit an unexpected error")
                due = self._clock() + 5.0
            with self._cond:
                if not self._jobs:
                    self._cond.wait(60.0)
                    continue
                wait = (due if due is not None else self._clock()) - self._clock()
                if wait > 0:
                    self._cond.wait(min(wait, 60.0))

    def _attempt(self, job: _Job) -> None:
        if not self._still_pending(job):
            return  # its hook (or app) was removed meanwhile
        status: int | None = None
        error: str | None = None
        permanent = False
        try:
            target, address = self._checked_target(job.url)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                SIGNATURE_HEADER: sign(job.secret, job.body),
                EVENT_HEADER: job.event,
                DELIVERY_HEADER: job.delivery,
            }
            status = self._transport(
                target, str(address), headers, job.body, self._settings.hook_timeout
            )
            if not 200 <= status < 300:
                error = f"the receiver answered HTTP {status}"
        except XaeError as e:  # refused by the policy, or a URL no longer valid: stays so
            error, permanent = e.message, True
        except _Unresolved as e:
            error = str(e)
        except OSError as e:
            error = f"no answer: {e.strerror or type(e).__name__}"
        ok = error is None
        final = (
            ok or permanent or job.attempt >= self._settings.hook_attempts or not retryable(status)
        )
        if not ok and not final:
            error = f"{error}; attempt {job.attempt + 1} follows"
        delay = None if final else retry_delay(job.attempt, self._settings.hook_backoff)
        self._record(job, status, ok, error, delay)
        if delay is not None:
            job.due = self._clock() + delay
            job.attempt += 1
            with self._cond:
                heapq.heappush(self._jobs, job)

    def _still_pending(self, job: _Job) -> bool:
        if job.outbox_id is None:
            return True
        try:
            with self._db.session() as session:
                return session.get(HookOutbox, job.outbox_id) is not None
        except Exception:
            log.exception("reading the outbox of hook %s failed", job.hook_id)
            return True  # the attempt's own record says what happened

    def _checked_target(self, url: str) -> tuple[HookTarget, Address]:
        """The URL's target and the one checked address to connect to."""
        target = parse_hook_url(url)
        literal = literal_address(target.host)
        if literal is not None:
            addresses: list[Address] = [literal]
        else:
            try:
                addresses = [
                    ipaddress.ip_address(a.split("%", 1)[0]) for a in self._resolve(target.host)
                ]
            except (OSError, ValueError) as e:
                raise _Unresolved(f"the host {target.host} does not resolve") from e
        if not addresses:
            raise _Unresolved(f"the host {target.host} resolves to no address")
        blocked = parse_cidrs(self._settings.app_blocked_cidrs)
        allowed = parse_cidrs(self._settings.hook_allowed_cidrs)
        known = self._platform()
        for address in addresses:
            problem = address_refusal(address, blocked=blocked, allowed=allowed, platform=known)
            if problem is not None:
                raise refused(target.host, problem)
        return target, addresses[0]

    def _record(
        self, job: _Job, status: int | None, ok: bool, error: str | None, retry_in: float | None
    ) -> None:
        """Log the attempt; move the outbox row on to the next attempt in `retry_in` seconds,
        or (None: delivered or given up) delete it. One transaction: a crash between the two
        never repeats an attempt the log shows as final."""
        try:
            with self._db.session() as session:
                if session.get(Hook, job.hook_id) is None:
                    return  # removed meanwhile (or its app destroyed): no log to keep
                row = session.get(HookOutbox, job.outbox_id) if job.outbox_id else None
                if row is not None and retry_in is None:
                    session.delete(row)
                elif row is not None and retry_in is not None:
                    row.attempt = job.attempt + 1
                    row.due_at = self._now() + timedelta(seconds=retry_in)
                session.add(
                    HookDelivery(
                        hook_id=job.hook_id,
                        app_id=job.app_id,
                        delivery=job.delivery,
                        event=job.event,
                        attempt=job.attempt,
                        status_code=status,
                        ok=ok,
                        error=(error or None) and error[:500],
                        at=utcnow(),
                    )
                )
                session.flush()
                old = select(HookDelivery.id).where(HookDelivery.hook_id == job.hook_id)
                keep = old.order_by(HookDelivery.id.desc()).limit(DELIVERIES_KEPT)
                session.execute(
                    delete(HookDelivery).where(
                        HookDelivery.hook_id == job.hook_id, HookDelivery.id.not_in(keep)
                    )
                )
        except Exception:
            log.exception("recording a delivery of hook %s failed", job.hook_id)
