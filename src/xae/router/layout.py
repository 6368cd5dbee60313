"""Where the router keeps its files: everything lives in one directory, `settings.router_dir`.

The nginx master xae starts never touches `/etc/nginx`, `/run` or `/var/log/nginx`: its config,
pid file, logs and temp files are all here, so several xae state dirs (tests, a second
installation) can each run their own router side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RouterPaths:
    root: Path

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
        return self.root / "tmp"

    @property
    def routes(self) -> Path:
        """The last applied routing table, so a restarted router serves it before xae does."""
        return self.root / "routes.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"
