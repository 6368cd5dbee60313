"""What the rest of xae knows about the App Router: a `Route` table in, traffic out.

The control layer speaks only this Protocol; `xae.router.nginx.NginxRouter` is the real
implementation (a host nginx that xae manages). Keeping the interface this small lets a
Kubernetes-fed router or a test fake stand in without the control layer noticing. Nothing here
does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Route:
    """One app's entry in the routing table."""

    app: str
    """The app's name (a DNS label); it names the upstream and the access-log `app` field."""

    hosts: list[str]
    """Host names served for this app, e.g. `["myapp.localhost", "www.example.com"]`."""

    upstreams: list[str] = field(default_factory=list)
    """Healthy `web` instances as `"ip:port"` (`"[v6]:port"` for IPv6). Empty means the app has
    no running web instance: its hosts answer 503 with a page saying so."""


@dataclass(frozen=True)
class RouterStatus:
    """What `xae status` and the doctor show about the router."""

    running: bool
    address: str
    """Where app traffic is accepted, `"host:port"`."""
    detail: str
    """One line: what runs, or what is wrong and what to do about it."""
    pid: int | None = None
    generation: int | None = None
    """The config generation nginx is serving (grows by one per applied change)."""


class Router(Protocol):
    def start(self) -> None:
        """Make sure the router runs and serves the last applied routes; idempotent and cheap."""
        ...

    def apply(self, routes: list[Route]) -> None:
        """Serve exactly `routes`; return only once the router no longer uses the old table."""
        ...

    def stop(self) -> None:
        """Stop serving, letting in-flight requests finish."""
        ...

    def status(self) -> RouterStatus: ...
