"""Where the router keeps its files: one private directory, `settings.router_dir`.

The nginx master xae starts never touches `/etc/nginx`, `/run` or `/var/log/nginx`: its config,
pid file, logs and control socket are all here, so several xae state dirs (tests, a second
installation) can each run their own router side by side. The directory is 0700 and its files
0600: only the master (root, or xae's user) opens them; workers inherit the open log files.

The one exception is what workers write themselves: when xae runs as root the workers run as
`nobody`, which cannot enter the private state dir, so their temp dirs (`worker_temp`) live
outside it (see `xae.router.tempdirs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TEMP_KINDS = ("body", "proxy", "fastcgi", "uwsgi", "scgi")
"""nginx's temp paths (`client_body_temp_path`, `proxy_temp_path`, ...), one dir each."""

SOCKET_PATH_MAX = 107
"""The longest path a unix socket may have on Linux (`sun_path` is 108 bytes with the NUL)."""


@dataclass(frozen=True)
class RouterPaths:
    root: Path
    worker_temp: Path | None = None
    """Where workers buffer large bodies; None means `root/tmp` (workers run as xae's user)."""

    @property
    def conf(self) -> Path:
        """The live config nginx runs with; replaced atomically, never edited in place."""
        return self.root / "nginx.conf"

    @property
    def pid(self) -> Path:
        return self.root / "nginx.pid"

    @property
    def error_log(self) -> Path:
        return self.root / "error.log"

    @property
    def access_log(self) -> Path:
        """JSON lines, one per request (see `render.LOG_FORMAT`)."""
        return self.root / "access.log"

    @property
    def start_log(self) -> Path:
        """What `nginx` printed while starting (before it daemonized)."""
        return self.root / "start.log"

    @property
    def temp(self) -> Path:
        return self.worker_temp if self.worker_temp is not None else self.root / "tmp"

    @property
    def internal_socket(self) -> Path:
        """The listener for xae's own probes (`/__xae/generation`, `/__xae/nginx_status`).

        A unix socket in this 0700 directory: only root and xae's user can connect, so no app
        container or other host user reaches it, whatever addresses the public listener binds.
        """
        return self.root / "internal.sock"

    @property
    def lua_module(self) -> Path:
        """The Lua module the config loads (a copy of the packaged one, 0600: only the master,
        which loads it before the workers fork, reads it)."""
        return self.root / "xae_router.lua"

    @property
    def placeholder_cert(self) -> Path:
        """A self-signed certificate naming no host: nginx needs one to open its TLS listener;
        clients get it only when no certificate matches their SNI name."""
        return self.root / "placeholder.crt"

    @property
    def placeholder_key(self) -> Path:
        return self.root / "placeholder.key"

    @property
    def certificates(self) -> Path:
        """The certificates last set (keys included: 0600, in this private dir only), so a
        restarted router presents them before xae sends them again."""
        return self.root / "certificates.json"

    @property
    def routes(self) -> Path:
        """The last applied routing table, so a restarted router serves it before xae does."""
        return self.root / "routes.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"
