"""Talking to the running router's Lua module over its private control socket.

`xae.router.nginx` changes routes here instead of reloading nginx: it POSTs a delta (the
changed apps' entries, the removed apps' names) to `/__xae/routes` and reads the affected
entries back (GET) to confirm that the router holds exactly what was sent. Each entry travels
as one canonical JSON string, which the router stores as is: the read-back is a plain string
comparison, and a request inside nginx sees one app's old entry or its new one, never a mix.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from xae.errors import RouterFailure
from xae.router.base import Backend, Certificate, Route
from xae.router.probe import UnixHTTPConnection
from xae.router.render import CERTIFICATES_PATH, ROUTES_PATH, WAKE_PATH

MESSAGE_MAX = 300


def route_entry(route: Route) -> dict[str, Any]:
    """A (validated) route as the router's Lua module takes it."""
    entry: dict[str, Any] = {
        "app": route.app,
        "hosts": list(route.hosts),
        "upstreams": list(route.upstreams),
        "backends": [
            {"release": b.release, "weight": b.weight, "upstreams": list(b.upstreams)}
            for b in route.backends
        ],
        "sticky": route.sticky,
        "release": route.release,
        "wake": route.wake,
        "redirect_https": route.redirect_https,
    }
    if route.max_body is not None:
        entry["max_body"] = route.max_body
    if route.read_timeout is not None:
        entry["read_timeout"] = route.read_timeout
    return entry


def entry_text(route: Route) -> str:
    """The canonical JSON of a route's entry: what the router stores and gives back."""
    return json.dumps(route_entry(route), sort_keys=True, separators=(",", ":"))


def route_from_entry(data: dict[str, Any]) -> Route:
    """The inverse of `route_entry` (for the saved table); the result still needs validating."""
    return Route(
        app=data["app"],
        hosts=list(data["hosts"]),
        upstreams=list(data.get("upstreams", [])),
        backends=[
            Backend(release=b["release"], weight=b["weight"], upstreams=list(b["upstreams"]))
            for b in data.get("backends", [])
        ],
        sticky=bool(data.get("sticky", False)),
        release=str(data.get("release", "")),
        wake=bool(data.get("wake", False)),
        redirect_https=bool(data.get("redirect_https", False)),
        max_body=data.get("max_body"),
        read_timeout=data.get("read_timeout"),
    )


def update_payload(changed: Sequence[Route], removed: Sequence[str], *, replace: bool) -> bytes:
    body: dict[str, object] = {
        "changed": [entry_text(r) for r in changed],
        "removed": list(removed),
    }
    if replace:
        body["replace"] = True
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Held:
    """What the router holds: its generation and the entries asked for (None: absent)."""

    generation: int
    apps: dict[str, str | None]


class ControlClient:
    def __init__(self, socket_path: Path, timeout: float = 10.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def _call(self, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
        conn = UnixHTTPConnection(self.socket_path, self.timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            raw = response.read(64 * 1024 * 1024)
        except (OSError, http.client.HTTPException) as e:
            raise RouterFailure(
                f"the router does not answer on its control socket {self.socket_path}: {e}"
            ) from e
        finally:
            conn.close()
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise RouterFailure(
                f"the router answered {method} {path} with HTTP {response.status} and no JSON; "
                "is the xae Lua module loaded? (see the router's error.log)"
            )
        if response.status != 200:
            error = str(data.get("error", "no reason given"))[:MESSAGE_MAX]
            raise RouterFailure(
                f"the router refused the route update (HTTP {response.status}): {error}; "
                "it keeps serving the previous routes",
                details={"router": error},
            )
        return data

    def update(self, changed: Sequence[Route], removed: Sequence[str], *, replace: bool) -> int:
        """Send a delta (or, with `replace`, the whole table); returns the new generation."""
        data = self._call("POST", ROUTES_PATH, update_payload(changed, removed, replace=replace))
        return int(data.get("generation", 0))

    def held(self, apps: Sequence[str] | None = None) -> Held:
        """What the router holds for `apps` (None: every app it has)."""
        query = "?" + urlencode([("app", a) for a in apps]) if apps else ""
        if apps is not None and not apps:
            query = "?app="
        data = self._call("GET", ROUTES_PATH + query)
        raw = data.get("apps")
        held: dict[str, str | None] = {}
        if isinstance(raw, dict):
            for name, text in raw.items():
                held[str(name)] = text if isinstance(text, str) else None
        return Held(generation=int(data.get("generation", 0)), apps=held)

    def waking(self, wait: float) -> list[str]:
        """The apps held requests wait for (each once per wait), within `wait` seconds."""
        data = self._call("GET", f"{WAKE_PATH}?timeout={wait:g}")
        apps = data.get("apps")
        return [str(a) for a in apps] if isinstance(apps, list) else []

    def set_certificates(
        self,
        certificates: Sequence[Certificate],
        *,
        changed: Sequence[Certificate] | None = None,
        removed: Sequence[str] = (),
    ) -> None:
        """Make the router present exactly `certificates` (by SNI) and confirm it.

        With `changed` (and `removed`), only those are sent: the router keeps the others it
        holds, so adding one app's certificate does not re-send (and the router re-parse) every
        other one. The read-back still compares the whole set."""
        partial = changed is not None
        sent = certificates if changed is None else changed
        body = json.dumps(
            {
                "certificates": [
                    {
                        "name": c.name,
                        "hosts": c.hosts,
                        "chain_pem": c.chain_pem,
                        "key_pem": c.key_pem,
                    }
                    for c in sent
                ],
                "removed": list(removed),
                "partial": partial,
            }
        ).encode()
        self._call("POST", CERTIFICATES_PATH, body)
        held = self.certificates()
        if held != certificate_digests(certificates):
            raise RouterFailure(
                "the router did not confirm the certificates (what it holds differs from what "
                "was sent)"
            )

    def certificates(self) -> dict[str, tuple[list[str], str]]:
        """What the router presents: name -> (hosts, base64 SHA-1 of the chain); no keys."""
        data = self._call("GET", CERTIFICATES_PATH)
        raw = data.get("certificates")
        result: dict[str, tuple[list[str], str]] = {}
        if isinstance(raw, dict):
            for name, item in raw.items():
                if isinstance(item, dict):
                    hosts = item.get("hosts")
                    result[str(name)] = (
                        sorted(str(h) for h in hosts) if isinstance(hosts, list) else [],
                        str(item.get("chain_sha1", "")),
                    )
        return result


def certificate_digests(certificates: Sequence[Certificate]) -> dict[str, tuple[list[str], str]]:
    """What `ControlClient.certificates` answers when the router presents `certificates`."""
    return {
        c.name: (
            sorted(c.hosts),
            base64.b64encode(hashlib.sha1(c.chain_pem.encode()).digest()).decode(),  # noqa: S324
        )
        for c in certificates
    }
