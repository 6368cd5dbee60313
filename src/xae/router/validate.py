"""The router's gate for everything that reaches the nginx config: hosts, upstreams, routes.

Every string rendered into the config passes through here first, so no value (a custom domain,
a container address reported by the runtime, a listen address from settings) can ever inject a
directive: only the characters a hostname, an IP address or a port can contain get through.
App names are checked by the one gate for them, `xae.domain.names`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from xae.domain.names import validate_app_name
from xae.errors import InvalidInput, InvalidName
from xae.router.base import Route

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"^(?:\*\.)?{_LABEL}(?:\.{_LABEL})*$")
HOSTNAME_MAX = 253


def validate_host(host: str) -> str:
    """Return `host` lowercased if it is a valid host name (optionally `*.` wildcard)."""
    normalized = host.strip().lower()
    if not normalized or len(normalized) > HOSTNAME_MAX or not _HOSTNAME.match(normalized):
        raise InvalidName(
            f"host name {host[:60]!r} is not valid: use dot-separated labels of letters, digits "
            "and dashes (e.g. myapp.example.com)"
        )
    return normalized


def validate_upstream(address: str) -> str:
    """Return `address` ("ip:port" or "[v6]:port") in canonical form, else raise."""
    host, sep, port_text = address.strip().rpartition(":")
    bad = InvalidInput(
        f"upstream {address[:60]!r} is not valid: use an instance address as ip:port "
        "(e.g. 172.18.0.5:5000)"
    )
    if not sep or not port_text.isdigit() or len(port_text) > 5:
        raise bad
    port = int(port_text)
    if not 0 < port < 65536:
        raise bad
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError as e:
        raise bad from e
    if ip.version == 6:
        return f"[{ip.compressed}]:{port}"
    return f"{ip.compressed}:{port}"


def validate_listen_host(host: str) -> str:
    """Return the router's listen address as nginx wants it (`[::]` for IPv6)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError as e:
        raise InvalidInput(
            f"router host {host[:60]!r} is not an IP address; set XAE_ROUTER_HOST to one "
            "(0.0.0.0 for every interface)"
        ) from e
    return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed


def validate_routes(routes: Sequence[Route]) -> list[Route]:
    """Check every route and return them normalized, sorted by app for a stable config.

    An app may appear once and a host may belong to one app only: nginx would otherwise pick
    one silently (with a warning nobody reads).
    """
    seen_apps: set[str] = set()
    owner: dict[str, str] = {}
    result: list[Route] = []
    for route in routes:
        app = validate_app_name(route.app)
        if app in seen_apps:
            raise InvalidInput(f"app {app!r} appears twice in the routing table")
        seen_apps.add(app)
        hosts: list[str] = []
        for raw in route.hosts:
            host = validate_host(raw)
            if host in owner and owner[host] != app:
                raise InvalidInput(
                    f"host {host!r} is claimed by both {owner[host]!r} and {app!r}; "
                    "a host name can route to one app only"
                )
            if host not in owner:
                owner[host] = app
                hosts.append(host)
        if not hosts:
            raise InvalidInput(f"app {app!r} has no host name to route")
        upstreams = list(dict.fromkeys(validate_upstream(u) for u in route.upstreams))
        result.append(Route(app=app, hosts=hosts, upstreams=upstreams))
    return sorted(result, key=lambda r: r.app)
