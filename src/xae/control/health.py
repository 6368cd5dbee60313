"""HTTP health checks of web instances, run from the control plane over the app's network.

An instance gets traffic only after a check passes; a check that sees the container exit stops
at once instead of waiting out its attempts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from xae.runtime.base import HealthCheck, Instance

# One client for every probe: building a client per request costs milliseconds of CPU (TLS
# context set-up), which adds up when ten instances are probed while they boot on two cores.
# Probes close their connection, so no pooled connection outlives a removed instance.
_client = httpx.Client(
    follow_redirects=False,
    headers={"User-Agent": "xae-health-check", "Connection": "close"},
    limits=httpx.Limits(max_connections=256, max_keepalive_connections=0),
)


def probe_once(instance: Instance, check: HealthCheck) -> bool:
    if not instance.address or instance.port is None:
        return False
    url = f"http://{instance.address}:{instance.port}{check.path}"
    try:
        response = _client.get(url, timeout=check.timeout)
    except (httpx.HTTPError, httpx.InvalidURL):
        # InvalidURL: a path stored before `xae.domain.health` refused it fails the check
        # instead of the whole reconcile pass.
        return False
    if check.strict:
        return 200 <= response.status_code < 400
    return response.status_code < 500


def wait_healthy(instance: Instance, check: HealthCheck, is_alive: Callable[[], bool]) -> bool:
    """Probe until healthy, out of attempts, or the instance died."""
    delay = min(0.05, check.interval)
    next_alive_check = time.monotonic() + 1.0
    for _ in range(check.attempts):
        if probe_once(instance, check):
            return True
        if time.monotonic() >= next_alive_check:
            if not is_alive():
                return False
            next_alive_check = time.monotonic() + 1.0
        # Most apps answer within a second: probe often at first, then back off.
        time.sleep(delay)
        delay = min(delay * 1.5, check.interval)
    return False


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
