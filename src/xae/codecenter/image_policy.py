"""The gate an image deploy passes before anything is recorded or pulled.

It joins the pure rules (`xae.domain.images.choose_image`: whose image is it;
`xae.domain.registries.check_registry`: may the platform pull from there) with the facts they
need: the builds the store says the app made, this machine's addresses and internal networks
(read from the kernel's tables, so every Docker bridge, xae's app networks and the pod bridge
count without asking each backend), the API's and router's hosts, and the system resolver.
The API runs it before the deploy stream starts, so a refusal is an HTTP error with a stable
code; the pipeline runs it again, so no other path skips it.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from xae.config import Settings
from xae.domain.images import IMAGE_STACK, choose_image
from xae.domain.registries import Network, PlatformAddresses, check_registry
from xae.domain.states import BuildStatus
from xae.store.models import Build

PROC_NET = Path("/proc/net")


def built_images(session: Session, app_id: int) -> list[str]:
    """The images xae built for the app (succeeded builds, not ready-made images deployed)."""
    return [
        image
        for image in session.scalars(
            select(Build.image).where(
                Build.app_id == app_id,
                Build.status == BuildStatus.SUCCEEDED,
                Build.stack.is_distinct_from(IMAGE_STACK),
                Build.image.is_not(None),
            )
        )
        if image
    ]


def vet_image(session: Session, settings: Settings, app: str, app_id: int, image: str) -> str:
    """The image app `app` will run for the reference `image`, or `ImageNotAllowed` /
    `RegistryNotAllowed` saying why not and what to do."""
    choice = choose_image(image, app=app, built=built_images(session, app_id))
    if choice.own_build:
        return choice.image  # in xae's own registry (or only on this engine): allowed
    check_registry(
        choice.ref.registry,
        image,
        allowed=settings.allowed_registries,
        resolve=resolve_host,
        platform=lambda: platform_addresses(settings),
    )
    return choice.image


def resolve_host(host: str) -> list[str]:
    """The addresses `host` resolves to, as the engine on this machine would find them."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def platform_addresses(settings: Settings, proc: Path = PROC_NET) -> PlatformAddresses:
    """This machine's addresses and internal networks, plus the API's and router's hosts."""
    addresses = set(local_ipv4(_read(proc / "fib_trie"))) | set(
        local_ipv6(_read(proc / "if_inet6"))
    )
    for host in (settings.api_host, settings.router_host):
        try:
            addresses.update(ipaddress.ip_address(a) for a in resolve_host(host))
        except (OSError, ValueError):
            continue  # a host that does not resolve is not an address anything can reach
    networks = internal_ipv4_networks(_read(proc / "route")) + internal_ipv6_networks(
        _read(proc / "ipv6_route")
    )
    return PlatformAddresses(addresses=frozenset(addresses), networks=tuple(networks))


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""  # not Linux, or no IPv6: the address classes still apply


def local_ipv4(fib_trie: str) -> list[ipaddress.IPv4Address]:
    """The local IPv4 addresses in `/proc/net/fib_trie` (each `|-- A` followed by
    `/32 host LOCAL`)."""
    found: list[ipaddress.IPv4Address] = []
    previous = ""
    for line in fib_trie.splitlines():
        words = line.split()
        if words[:1] == ["/32"] and words[-1:] == ["LOCAL"] and previous:
            found.append(ipaddress.IPv4Address(previous))
        previous = words[1] if len(words) == 2 and words[0] == "|--" else ""
    return sorted(set(found))


def local_ipv6(if_inet6: str) -> list[ipaddress.IPv6Address]:
    """The IPv6 addresses of this machine's interfaces (`/proc/net/if_inet6`)."""
    found: set[ipaddress.IPv6Address] = set()
    for line in if_inet6.splitlines():
        words = line.split()
        if words and len(words[0]) == 32:
            found.add(ipaddress.IPv6Address(int(words[0], 16)))
    return sorted(found)


def internal_ipv4_networks(route: str) -> list[Network]:
    """Directly attached IPv4 networks (`/proc/net/route`) on interfaces other than those the
    default route leaves by: the bridges that exist only inside this machine."""
    rows = [line.split() for line in route.splitlines()[1:]]
    rows = [r for r in rows if len(r) >= 8]
    outside = {r[0] for r in rows if r[1] == "00000000" and r[7] == "00000000"}
    networks: list[Network] = []
    for iface, destination, gateway, *_rest in rows:
        mask = _rest[4]
        if iface in outside or gateway != "00000000" or destination == "00000000":
            continue
        network = ipaddress.IPv4Address(_le32(destination))
        prefix = bin(_le32(mask)).count("1")
        networks.append(ipaddress.IPv4Network(f"{network}/{prefix}", strict=False))
    return networks


def internal_ipv6_networks(ipv6_route: str) -> list[Network]:
    """As `internal_ipv4_networks`, from `/proc/net/ipv6_route` (link-local and multicast
    prefixes are refused by class anyway)."""
    rows = [line.split() for line in ipv6_route.splitlines()]
    rows = [r for r in rows if len(r) == 10 and len(r[0]) == 32]
    outside = {r[9] for r in rows if int(r[1], 16) == 0 and int(r[4], 16) != 0}
    networks: list[Network] = []
    for dest, prefix, _src, _src_prefix, nexthop, *_rest, iface in rows:
        length = int(prefix, 16)
        network = ipaddress.IPv6Network((int(dest, 16), length), strict=False)
        if (
            iface in outside
            or iface == "lo"
            or int(nexthop, 16) != 0
            or length == 0
            or network.is_link_local
            or network.is_multicast
        ):
            continue
        networks.append(network)
    return networks


def _le32(hex_text: str) -> int:
    """`/proc/net/route` prints addresses as host-order (little-endian) hex."""
    return int.from_bytes(int(hex_text, 16).to_bytes(4, "big"), "little")
