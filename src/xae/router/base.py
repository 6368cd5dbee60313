"""What the rest of xae knows about the App Router: a `Route` table in, traffic out.

The control layer speaks only this Protocol; `xae.router.nginx.NginxRouter` is the real
implementation (a host nginx that xae manages). Keeping the interface this small lets a
Kubernetes-fed router or a test fake stand in without the control layer noticing. Nothing here
does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Backend:
    """One release's share of an app's traffic: a weighted split sends `weight` percent of the
    app's requests to these instances."""

    release: str
    """The release the instances run, e.g. `"v8"` (the access log's `release` field)."""

    weight: int
    """Percent of the app's requests, 0-100; the backends of one route add up to 100."""

    upstreams: list[str] = field(default_factory=list)


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

    backends: list[Backend] = field(default_factory=list)
    """A weighted split between releases; when not empty it decides where requests go (and
    `upstreams` is ignored)."""

    sticky: bool = False
    """Keep a client on the backend it was first sent to (a cookie), for splits."""

    release: str = ""
    """The release `upstreams` run (the access log's `release` field)."""

    wake: bool = False
    """Scalable from zero: with no upstream, hold requests (up to the router's hold timeout)
    and tell xae once that the app must wake, instead of answering 503."""

    redirect_https: bool = False
    """Answer plain-HTTP requests with a redirect to HTTPS."""

    max_body: int | None = None
    """Largest request body in bytes (None: the router's default)."""

    read_timeout: int | None = None
    """Seconds to wait for the app's response (None: the router's default)."""


@dataclass(frozen=True)
class Certificate:
    """A TLS certificate the router presents for the host names it covers (SNI)."""

    name: str
    """A stable id (the store's), used to replace or remove it."""

    hosts: list[str]
    """Names it covers, wildcards included (`*.example.com`)."""

    chain_pem: str
    """The leaf certificate first, then its intermediates."""

    key_pem: str
    """The private key; it never leaves the router's private state or xae's store."""


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
    """The routing table's generation the router serves (grows by one per applied change)."""


class Router(Protocol):
    def start(self) -> None:
        """Make sure the router runs and serves the last applied routes; idempotent and cheap."""
        ...

    def apply(self, routes: list[Route]) -> None:
        """Serve exactly `routes` (a full replace: start-up, after a router restart); return
        only once the router no longer uses the old table."""
        ...

    def update(self, changed: list[Route], removed: list[str]) -> None:
        """Replace the entries of the `changed` apps and drop the `removed` apps, leaving every
        other app untouched; atomic per app, and returns only once the router serves it."""
        ...

    def set_certificates(self, certificates: list[Certificate]) -> None:
        """Serve exactly these certificates (by SNI) on the TLS listener."""
        ...

    def on_wake(self, callback: Callable[[str], None]) -> None:
        """Call `callback(app)` (once per wait) when a request arrives for an app whose route
        has `wake` and no upstream: xae must start it."""
        ...

    def stop(self) -> None:
        """Stop serving, letting in-flight requests finish."""
        ...

    def status(self) -> RouterStatus: ...
