"""Keeping the state dir private: it holds the store (config values, password and token
hashes), the logs, uploaded sources and the router's files.

Two layers, so that neither alone has to be perfect: the state dir itself is 0700 (nothing
below it is reachable by another user, whatever a file's mode), and every file xae creates is
0600 because the processes that create them (`xae-admin` and the server it starts, nginx, which
inherits the umask) run with umask 077. An install made by an older xae is tightened on each
start, so an upgrade fixes itself.

What this must never do: change the modes inside an uploaded source tree (they become the
modes in the app's image) or anything in the state dir that xae did not create there (the
local cluster keeps its own files under `k8s/`). So it names what it tightens.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from xae.config import Settings

PRIVATE_UMASK = 0o077

LEGACY_PASSWORD_FILE = "admin-password"
"""Where xae before 0.2 wrote the generated admin password, in plain text."""

_FILES = ("xae.db", "xae.db-wal", "xae.db-shm", "xae.db-journal", "xae.pid", "secrets.key")
_DIRS_WITH_FILES = ("logs", "router")
_DIRS = ("builds",)


def restrict_umask() -> None:
    """From here on, files and dirs this process (and its children) create are its own."""
    os.umask(PRIVATE_UMASK)


def _tighten(path: Path, mode: int) -> None:
    """chmod `path` to `mode` if it is a real file or dir (a link is left alone)."""
    with contextlib.suppress(FileNotFoundError):
        info = os.lstat(path)
        if (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)) and (
            stat.S_IMODE(info.st_mode) != mode
        ):
            os.chmod(path, mode)


def secure_state_dir(settings: Settings) -> list[str]:
    """Create the state dir 0700 and tighten what an older xae left readable.

    Returns what the operator must be told (a removed plain-text password file).
    """
    state = settings.state_dir
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    state.chmod(0o700)
    for name in _FILES:
        _tighten(state / name, 0o600)
    for name in _DIRS:
        _tighten(state / name, 0o700)
    for name in _DIRS_WITH_FILES:
        directory = state / name
        _tighten(directory, 0o700)
        if directory.is_dir() and not directory.is_symlink():
            for entry in directory.iterdir():
                _tighten(entry, 0o600 if entry.is_file() else 0o700)
    notices: list[str] = []
    legacy = state / LEGACY_PASSWORD_FILE
    if legacy.is_file() or legacy.is_symlink():
        legacy.unlink()
        notices.append(
            f"removed {legacy}: xae no longer keeps the admin password on disk. Keep the "
            "password you have; if you lost it, `xae-admin reset-password admin` makes a new one"
        )
    return notices
