"""HTTP health checks of web instances, run from the control plane over the app's network.

An instance gets traffic only after a check passes; a check that sees the container exit stops
at once instead of waiting out its attempts. The check sends the app's own host name as `Host`
(what the router sends), never the container's address: an app that refuses unknown hosts
(Django's ALLOWED_HOSTS) must be judged on what its users get. What passes is
`xae.domain.health.accepts`.

The `Prober` is built once where the process starts, around one HTTP client, and handed to the
strategy; unit tests build it around an `httpx.MockTransport` instead of patching this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from xae.domain.health import accepts, describe
from xae.runtime.base import HealthCheck, Instance

FIRST_PROBE_DELAY = 0.02
PROBE_BACKOFF = 1.25
"""While an instance boots it is probed after 0.02 s, then ever less often (×1.25 each time) up
to its check's `interval`: probes at 0, 0.02, 0.045, 0.076, 0.115, 0.16, 0.22, 0.3 s... A
Python app that answers after ~0.15 s is seen at 0.16 s, not 0.24 s (0.05 s × 1.5 each time,
which this replaced): ~0.08 s off every rollout, at the cost of a few more refused connects in
its first 0.3 s. `xae.control.instances` waits for this before the route swap."""


def probe_client(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The HTTP client of every probe of a process (`transport`: a fake one, for tests).

    One client for every probe: building a client per request costs milliseconds of CPU (TLS
    context set-up), which adds up when ten instances are probed while they boot on two cores.
    Probes close their connection, so no pooled connection outlives a removed instance.
    """
    return httpx.Client(
        transport=transport,
        follow_redirects=False,
        headers={"User-Agent": "xae-health-check", "Connection": "close"},
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=0),
    )


@dataclass(frozen=True)
class Probe:
    """One health request's outcome: the answer's status, or why there was none."""

    ok: bool
    status: int | None = None
    error: str = ""

    def describe(self, check: HealthCheck) -> str:
        return describe(check.path, strict=check.strict, status=self.status, error=self.error)


_NOT_ROUTABLE = Probe(ok=False, error="the instance has no address yet")


class Prober:
    """Sends health checks over one HTTP client; what an instance must answer to pass."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def probe(self, instance: Instance, check: HealthCheck) -> Probe:
        """Send the check once, with the app's own host name as `Host`, as the router does."""
        if not instance.address or instance.port is None:
            return _NOT_ROUTABLE
        url = f"http://{instance.address}:{instance.port}{check.path}"
        headers = {"Host": check.host} if check.host else None
        try:
            response = self.client.get(url, timeout=check.timeout, headers=headers)
        except httpx.TimeoutException:
            return Probe(ok=False, error=f"no answer within {check.timeout:g} s")
        except httpx.HTTPError as e:
            return Probe(ok=False, error=_reason(e))
        except httpx.InvalidURL:
            # A path stored before `xae.domain.health` refused it fails the check instead of
            # the whole reconcile pass.
            return Probe(ok=False, error="the health check path is not a valid URL path")
        status = response.status_code
        return Probe(ok=accepts(status, strict=check.strict), status=status)

    def probe_once(self, instance: Instance, check: HealthCheck) -> bool:
        return self.probe(instance, check).ok

    def wait_healthy(
        self, instance: Instance, check: HealthCheck, is_alive: Callable[[], bool]
    ) -> Probe:
        """Probe until healthy, out of the check's start budget (`HealthCheck.start_budget`,
        counted from now) or the instance died; the last probe's outcome. At least one probe
        is sent."""
        deadline = time.monotonic() + check.start_budget
        delay = min(FIRST_PROBE_DELAY, check.interval)
        next_alive_check = time.monotonic() + 1.0
        while True:
            last = self.probe(instance, check)
            if last.ok:
                return last
            if time.monotonic() >= next_alive_check:
                if not is_alive():
                    return _exited(last)
                next_alive_check = time.monotonic() + 1.0
            if time.monotonic() + delay > deadline:
                return last
            # Most apps answer within a second: probe often at first, then back off.
            time.sleep(delay)
            delay = min(delay * PROBE_BACKOFF, check.interval)

    def close(self) -> None:
        self.client.close()


def _reason(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.ConnectError):
        return "connection refused: nothing listens on $PORT yet"
    if isinstance(error, httpx.RemoteProtocolError):
        return "the connection closed without an HTTP answer"
    return type(error).__name__


def _exited(last: Probe) -> Probe:
    if last.status is not None:
        return last
    return Probe(ok=False, error="the instance exited")


class HealthTracker:
    """Which instances passed their health check, by container id.

    In memory only: a restarted control plane rebuilds it by probing.
    """

    def __init__(self) -> None:
        self._healthy: dict[str, bool] = {}

    def mark(self, instance_id: str, healthy: bool) -> None:
        self._healthy[instance_id] = healthy

    def get(self, instance_id: str) -> bool | None:
        return self._healthy.get(instance_id)

    def forget(self, instance_id: str) -> None:
        self._healthy.pop(instance_id, None)
