"""Asking the running router which config generation it serves, over HTTP on loopback.

This is how `apply` knows a reload is *in effect* rather than merely requested: nginx answers
`GET /__xae/generation` on its default server with the number rendered into the config it is
actually running. The probe uses its own short-lived connection and a Host no app can own.
"""

from __future__ import annotations

import http.client
import ipaddress

from xae.router.render import GENERATION_PATH, INTERNAL_HOST


def probe_address(listen_host: str) -> str:
    """Where to reach a router that listens on `listen_host` from this machine."""
    ip = ipaddress.ip_address(listen_host)
    if ip.is_unspecified:
        return "::1" if ip.version == 6 else "127.0.0.1"
    return ip.compressed


def served_generation(listen_host: str, port: int, timeout: float = 1.0) -> int | None:
    """The generation the router answers with, or None if it does not answer (yet)."""
    conn = http.client.HTTPConnection(probe_address(listen_host), port, timeout=timeout)
    try:
        conn.request("GET", GENERATION_PATH, headers={"Host": INTERNAL_HOST})
        response = conn.getresponse()
        body = response.read(64).decode(errors="replace").strip()
        if response.status != 200 or not body.isdigit():
            return None
        return int(body)
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
