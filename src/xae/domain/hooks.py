"""Deploy notifications (webhooks), the pure part: which URLs a hook may have, which addresses
it may reach, how an event is signed, when a failed delivery is tried again.

A hook makes the platform send an HTTP request to a URL a tenant chose, from the control plane,
which sits inside everything: the API on loopback, the cloud metadata service on link-local,
add-ons on container networks, the LAN. That is server-side request forgery unless the
address is checked. So a hook follows the platform's policy for outbound app traffic: every
address a hook's host resolves to must be outside the platform (not loopback, link-local,
multicast, reserved or unspecified, not an address of this machine or on its internal
networks: `xae.domain.registries.address_problem`) and outside `app_blocked_cidrs` (the private
ranges), unless an operator allowed it (`hook_allowed_cidrs`). The check runs on every
delivery, on the address the request then goes to (`xae.codecenter.notify` connects to the
checked address itself), so a name that later resolves elsewhere (DNS rebinding) gains nothing.

Signing is GitHub's scheme: `X-Xae-Signature: sha256=<hex HMAC-SHA256 of the body>` under a
per-hook secret the tenant saw once, so a receiver knows the event came from xae unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from xae.domain.registries import Address, Network, PlatformAddresses, address_problem
from xae.errors import HookNotAllowed, InvalidInput

EVENT_KINDS = ("build", "deploy")
"""What a hook may subscribe to: `build` (a build succeeded, failed, was cancelled or timed
out) and `deploy` (a release rolled out, or failed to)."""

SIGNATURE_HEADER = "X-Xae-Signature"
EVENT_HEADER = "X-Xae-Event"
DELIVERY_HEADER = "X-Xae-Delivery"
MAX_URL = 2048


@dataclass(frozen=True)
class HookTarget:
    """Where a hook's URL points: what a delivery connects to and asks for."""

    scheme: str
    host: str
    port: int
    path: str
    """The path and query, as sent in the request line."""


def parse_events(events: Iterable[str]) -> list[str]:
    """The event kinds a hook subscribes to, checked and in a stable order."""
    wanted = {e.strip().lower() for e in events if e.strip()}
    unknown = sorted(wanted - set(EVENT_KINDS))
    if unknown:
        raise InvalidInput(
            f"unknown hook event {unknown[0][:40]!r}: choose among {', '.join(EVENT_KINDS)}"
        )
    if not wanted:
        raise InvalidInput(f"a hook needs at least one event: {', '.join(EVENT_KINDS)}")
    return [e for e in EVENT_KINDS if e in wanted]


def parse_hook_url(url: str) -> HookTarget:
    """The target of a hook URL: http or https, a host, no credentials; `InvalidInput` says
    what is wrong otherwise."""
    if len(url) > MAX_URL:
        raise InvalidInput(f"a hook URL may have at most {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidInput("a hook URL may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise InvalidInput(f"the hook URL is not valid: {e}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("a hook URL must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "a hook URL may not carry credentials: receivers check the X-Xae-Signature header "
            "with the hook's secret instead"
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidInput("the hook URL names no host")
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    default = 443 if parts.scheme == "https" else 80
    return HookTarget(parts.scheme, host, port or default, path)


def literal_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def parse_cidrs(entries: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip()]


def address_refusal(
    address: Address,
    *,
    blocked: Sequence[Network],
    allowed: Sequence[Network],
    platform: PlatformAddresses,
) -> str | None:
    """Why a hook may not reach `address` (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address.version == n.version and address in n for n in allowed):
        return None
    problem = address_problem(address, platform)
    if problem is not None:
        return problem
    if any(address.version == n.version and address in n for n in blocked):
        return "a private address (the platform's XAE_APP_BLOCKED_CIDRS)"
    if address.is_private:
        return "a private address"
    return None


def refused(host: str, problem: str) -> HookNotAllowed:
    """The error for a hook that would reach inside the platform; the address stays unsaid
    when it came from DNS (no oracle for internal names)."""
    how = problem if literal_address(host) else f"resolved to {problem}"
    return HookNotAllowed(
        f"the hook's host {host[:253]} is {how}, "
        "inside the platform: hooks only reach receivers outside it (an operator can allow an "
        "address range with XAE_HOOK_ALLOWED_CIDRS)"
    )


def sign(secret: str, body: bytes) -> str:
    """The `X-Xae-Signature` value of `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """What a receiver does: compare in constant time."""
    return hmac.compare_digest(sign(secret, body), signature)


def retry_delay(attempt: int, base: float, cap: float = 3600.0) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...): base, 2×, 4×, ..."""
    return float(min(cap, base * (2 ** (attempt - 1))))


def retryable(status_code: int | None) -> bool:
    """Whether a delivery that got `status_code` (None: no answer) is tried again: no answer,
    a timeout, 429 and server errors are; a client error (the receiver refused it) is not."""
    return status_code is None or status_code in (408, 429) or status_code >= 500
