"""Asking the running router what it serves, over its internal unix socket.

`GET /__xae/generation` answers the routing table's generation (it grows by one per applied
update) and `GET /__xae/config` the id of the config the workers run: that is how a reload is
known to be *in effect* rather than merely requested. The locations exist only on the internal
socket in the private router dir (`RouterPaths.internal_socket`), never on the public
listener, so no app container and no other user of the host can read it.
`accepts_connections` checks the public listener separately.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
from pathlib import Path

from xae.router.render import CONFIG_PATH, GENERATION_PATH


def probe_address(listen_host: str) -> str:
    """Where to reach a router that listens on `listen_host` from this machine."""
    ip = ipaddress.ip_address(listen_host)
    if ip.is_unspecified:
        return "::1" if ip.version == 6 else "127.0.0.1"
    return ip.compressed


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTP/1.1 connection over a unix socket (the stdlib speaks TCP only)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def served_generation(internal_socket: Path, timeout: float = 1.0) -> int | None:
    """The generation the router answers with, or None if it does not answer (yet)."""
    conn = UnixHTTPConnection(internal_socket, timeout)
    try:
        conn.request("GET", GENERATION_PATH)
        response = conn.getresponse()
        body = response.read(64).decode(errors="replace").strip()
        if response.status != 200 or not body.isdigit():
            return None
        return int(body)
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def accepts_connections(listen_host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether the public listener accepts a TCP connection from this machine."""
    try:
        with socket.create_connection((probe_address(listen_host), port), timeout=timeout):
            return True
    except OSError:
        return False


def served_config(internal_socket: Path, timeout: float = 1.0) -> str | None:
    """The id of the config the router's workers run (`render.read_config_id`), or None."""
    conn = UnixHTTPConnection(internal_socket, timeout)
    try:
        conn.request("GET", CONFIG_PATH)
        response = conn.getresponse()
        body = response.read(64).decode(errors="replace").strip()
        return body if response.status == 200 and body.isalnum() else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
