"""Which registries an image deploy may make the platform pull from.

An image reference names a registry host, and whoever starts the app's instances (the Docker
engine as root on the host network; on Kubernetes the node's kubelet) connects to it. Left
open, `127.0.0.1:8080/x:v1` turns a deploy into a request to any address inside the platform:
the API, an add-on on a container network, a cloud metadata service. So a registry is refused
when its host is, or resolves to, a loopback, link-local, unspecified, multicast or reserved
address, an address of this machine, or an address on one of its internal networks (the
Docker bridges, the pod bridge), unless an operator allow-listed it (`XAE_ALLOWED_REGISTRIES`).
Docker Hub needs no check. A host name that does not resolve is refused too: what the engine
would reach cannot be known.

Pure: the resolver and the machine's addresses are handed in (`xae.codecenter.image_policy`
gathers them), so every rule is tested without a network. Names are resolved here, before the
pull, and the engine resolves them again: a name whose answers change between the two (DNS
rebinding) is beyond this check, which is why the runtime never shows a registry's answer.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from xae.domain.images import DOCKER_HUB_ALIASES
from xae.errors import InvalidInput, RegistryNotAllowed

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], Iterable[str]]
"""A host name → its addresses; raises `OSError` when the name does not resolve."""

_ENTRY = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?", re.ASCII)


@dataclass(frozen=True)
class PlatformAddresses:
    """Where the platform itself lives: this machine's own addresses, and the networks that
    exist only inside it (container and pod bridges)."""

    addresses: frozenset[Address] = frozenset()
    networks: tuple[Network, ...] = field(default=())


def normalise_allow_list(entries: Iterable[str]) -> tuple[str, ...]:
    """The allow-list as `host` (any port) or `host:port` entries, lowercase; raises
    `InvalidInput` for anything else (a URL, a path)."""
    normalised: list[str] = []
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        if not _ENTRY.fullmatch(entry):
            raise InvalidInput(
                f"the allowed registry {raw[:80]!r} is not valid: write a host or host:port, "
                "e.g. `registry.internal:5000`, without a scheme or a path"
            )
        normalised.append(entry)
    return tuple(normalised)


def split_host_port(registry: str) -> tuple[str, int | None]:
    host, colon, port = registry.lower().rpartition(":")
    if colon and port.isdigit():
        return host, int(port)
    return registry.lower(), None


def is_allow_listed(registry: str, allowed: Iterable[str]) -> bool:
    """True if `registry` (`host[:port]`) is an entry of `allowed`, or its host is an entry
    without a port."""
    registry = registry.lower()
    host, _ = split_host_port(registry)
    return any(entry in (registry, host) for entry in allowed)


def address_problem(address: Address, platform: PlatformAddresses) -> str | None:
    """What makes `address` a place inside the platform, or None if a registry may live there."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or address in ipaddress.IPv4Network("0.0.0.0/8"):
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if address in platform.addresses:
        return "an address of this machine"
    for network in platform.networks:
        if address.version == network.version and address in network:
            return "an address on one of the platform's internal networks"
    return None


def check_registry(
    registry: str,
    image: str,
    *,
    allowed: Iterable[str],
    resolve: Resolver,
    platform: Callable[[], PlatformAddresses],
) -> None:
    """Refuse (`RegistryNotAllowed`) a pull of `image` from `registry` that would reach inside
    the platform. `platform` is called only when an address must be checked."""
    if registry.lower() in DOCKER_HUB_ALIASES or is_allow_listed(registry, allowed):
        return
    host, _ = split_host_port(registry)
    what_to_do = (
        "push the image to a registry outside the platform, or ask an operator to allow this "
        f"one (XAE_ALLOWED_REGISTRIES={registry})"
    )
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[Address] = [literal]
        via = f"{literal} is "
    else:
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve(host)]
        except (OSError, ValueError) as e:
            raise RegistryNotAllowed(
                f"the registry {registry} of image {image} does not resolve from this machine, "
                f"so what it points to cannot be checked: check its name, or {what_to_do}"
            ) from e
        if not addresses:
            raise RegistryNotAllowed(
                f"the registry {registry} of image {image} resolves to no address: check its "
                f"name, or {what_to_do}"
            )
        via = f"{host} resolves to "  # the addresses stay unsaid: no oracle for internal DNS
    known = platform()
    for address in addresses:
        problem = address_problem(address, known)
        if problem is not None:
            raise RegistryNotAllowed(
                f"the registry {registry} of image {image} is inside the platform ({via}"
                f"{problem}); xae does not pull from there, so that an image reference cannot "
                f"send requests into the platform: {what_to_do}",
                details={"registry": registry},
            )
