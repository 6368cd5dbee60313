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
from xae.router.base import Backend, Certificate, Route

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"^(?:\*\.)?{_LABEL}(?:\.{_LABEL})*$")
HOSTNAME_MAX = 253
_RELEASE = re.compile(r"^[A-Za-z0-9._-]{0,64}$")
MAX_BODY_MAX = 1 << 30
"""The largest `max_body` a route may ask for: nginx's own cap (`render.MAX_BODY_CAP`)."""
READ_TIMEOUT_MAX = 86400


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


def _release(text: str, app: str) -> str:
    if not isinstance(text, str) or not _RELEASE.match(text):
        raise InvalidInput(
            f"route {app!r}: release {str(text)[:40]!r} is not valid: use letters, digits, "
            "'.', '_' or '-' (at most 64), e.g. v8"
        )
    return text


def _backends(route: Route, app: str) -> list[Backend]:
    result: list[Backend] = []
    seen: set[str] = set()
    for backend in route.backends:
        release = _release(backend.release, app)
        if release in seen:
            raise InvalidInput(f"route {app!r} names release {release!r} twice in its split")
        seen.add(release)
        if not isinstance(backend.weight, int) or not 0 <= backend.weight <= 100:
            raise InvalidInput(
                f"route {app!r}: the weight of {release!r} must be a whole percent, 0-100"
            )
        upstreams = list(dict.fromkeys(validate_upstream(u) for u in backend.upstreams))
        if backend.weight > 0 and not upstreams:
            raise InvalidInput(
                f"route {app!r}: release {release!r} gets {backend.weight}% of the traffic "
                "but has no instances"
            )
        result.append(Backend(release=release, weight=backend.weight, upstreams=upstreams))
    if result and sum(b.weight for b in result) != 100:
        raise InvalidInput(
            f"route {app!r}: split weights add up to {sum(b.weight for b in result)}, not 100"
        )
    return result


def _optional(value: int | None, name: str, app: str, most: int) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= most:
        raise InvalidInput(f"route {app!r}: {name} must be a whole number from 1 to {most}")
    return value


def validate_route(route: Route) -> Route:
    """Check one route and return it normalized (hosts lowercased and deduplicated, upstreams
    canonical); raises `InvalidName`/`InvalidInput` saying what is wrong."""
    app = validate_app_name(route.app)
    hosts = list(dict.fromkeys(validate_host(raw) for raw in route.hosts))
    if not hosts:
        raise InvalidInput(f"app {app!r} has no host name to route")
    upstreams = list(dict.fromkeys(validate_upstream(u) for u in route.upstreams))
    for flag in ("sticky", "wake", "redirect_https"):
        if not isinstance(getattr(route, flag), bool):
            raise InvalidInput(f"route {app!r}: {flag} must be true or false")
    return Route(
        app=app,
        hosts=hosts,
        upstreams=upstreams,
        backends=_backends(route, app),
        sticky=route.sticky,
        release=_release(route.release, app),
        wake=route.wake,
        redirect_https=route.redirect_https,
        max_body=_optional(route.max_body, "max_body", app, MAX_BODY_MAX),
        read_timeout=_optional(route.read_timeout, "read_timeout", app, READ_TIMEOUT_MAX),
    )


def validate_routes(routes: Sequence[Route]) -> list[Route]:
    """Check every route and return them normalized, sorted by app.

    An app may appear once and a host may belong to one app only: the router could otherwise
    only pick one silently.
    """
    seen_apps: set[str] = set()
    owner: dict[str, str] = {}
    result: list[Route] = []
    for raw in routes:
        route = validate_route(raw)
        app = route.app
        if app in seen_apps:
            raise InvalidInput(f"app {app!r} appears twice in the routing table")
        seen_apps.add(app)
        for host in route.hosts:
            if host in owner:
                raise InvalidInput(
                    f"host {host!r} is claimed by both {owner[host]!r} and {app!r}; "
                    "a host name can route to one app only"
                )
            owner[host] = app
        result.append(route)
    return sorted(result, key=lambda r: r.app)


def validate_update(
    table: dict[str, Route], changed: Sequence[Route], removed: Sequence[str]
) -> tuple[list[Route], list[str]]:
    """Check a delta against the table it applies to: each changed route on its own, no app
    twice, and no host taken from an app that keeps it. Returns the normalized delta."""
    routes = validate_routes(changed)
    gone = sorted({validate_app_name(app) for app in removed})
    both = {r.app for r in routes} & set(gone)
    if both:
        raise InvalidInput(f"app {sorted(both)[0]!r} is both changed and removed")
    replaced = {r.app for r in routes} | set(gone)
    owner = {host: r.app for r in table.values() if r.app not in replaced for host in r.hosts}
    for route in routes:
        for host in route.hosts:
            if host in owner:
                raise InvalidInput(
                    f"host {host!r} is claimed by both {owner[host]!r} and {route.app!r}; "
                    "a host name can route to one app only"
                )
    return routes, gone


_CERT_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PEM_MAX = 256 * 1024


def validate_certificates(certificates: Sequence[Certificate]) -> list[Certificate]:
    """Check what the router is asked to present: names, hosts (a host in one certificate
    only), PEM shapes. Whether a key matches its certificate and the chain is in order is
    checked where certificates are added (and by the router, which refuses what it cannot
    parse); errors here never quote a key."""
    result: list[Certificate] = []
    names: set[str] = set()
    owner: dict[str, str] = {}
    for cert in certificates:
        if not _CERT_NAME.match(cert.name) or cert.name in names:
            raise InvalidInput(
                f"certificate name {cert.name[:40]!r} is invalid or repeated: use 1-64 "
                "letters, digits, '.', '_' or '-'"
            )
        names.add(cert.name)
        hosts = list(dict.fromkeys(validate_host(h) for h in cert.hosts))
        if not hosts:
            raise InvalidInput(f"certificate {cert.name!r} names no host")
        for host in hosts:
            if host in owner:
                raise InvalidInput(
                    f"host {host!r} is in certificates {owner[host]!r} and {cert.name!r}; "
                    "the router presents one certificate per name"
                )
            owner[host] = cert.name
        chain = cert.chain_pem.strip()
        key = cert.key_pem.strip()
        if not chain.startswith("-----BEGIN CERTIFICATE-----") or len(chain) > PEM_MAX:
            raise InvalidInput(
                f"certificate {cert.name!r}: the chain is not PEM certificates "
                "(-----BEGIN CERTIFICATE-----, leaf first)"
            )
        if not re.match(r"^-----BEGIN (?:RSA |EC )?PRIVATE KEY-----", key) or len(key) > PEM_MAX:
            raise InvalidInput(f"certificate {cert.name!r}: the key is not a PEM private key")
        result.append(Certificate(cert.name, hosts, chain + "\n", key + "\n"))
    return sorted(result, key=lambda c: c.name)
