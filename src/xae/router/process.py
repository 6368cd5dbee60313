"""Finding and watching the nginx processes xae started, through /proc only.

A pid file alone is not proof: after a reboot or a crash the pid may belong to anything. A pid
counts as *our* master only if /proc shows a live (non-zombie) process whose title nginx set to
`nginx: master process ... -c <our config>`. Nothing here ever signals a process it has not
identified that way, and nothing matches processes by name alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

_PROC = Path("/proc")
POLL_INTERVAL = 0.02


def read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return int(text) if text.isdigit() else None


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None if gone."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rfind(")") + 2 :].split()


def is_alive(pid: int) -> bool:
    """True for a running process; a zombie waiting to be reaped is dead."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X", "x")


def parent_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def title(pid: int) -> str:
    """The process title (nginx rewrites its argv into e.g. `nginx: worker process`)."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def is_master_for(pid: int, conf: Path) -> bool:
    """Is `pid` a live nginx master running with config file `conf`?"""
    name = title(pid)
    return is_alive(pid) and name.startswith("nginx: master process") and f"-c {conf}" in name


def live_master(pid_file: Path, conf: Path) -> int | None:
    pid = read_pid(pid_file)
    return pid if pid is not None and is_master_for(pid, conf) else None


def children(pid: int) -> list[int]:
    result: list[int] = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and parent_of(int(entry.name)) == pid:
            result.append(int(entry.name))
    return result


def active_workers(master: int) -> set[int]:
    """Workers of `master` that still accept connections (not the ones shutting down).

    nginx retitles a worker `worker process is shutting down` in the same step in which it
    closes its listening sockets, so a worker with the plain title may still take new requests.
    """
    return {
        pid for pid in children(master) if is_alive(pid) and title(pid) == "nginx: worker process"
    }


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; return whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL)


def signal_if_master(pid: int, conf: Path, sig: int) -> bool:
    """Send `sig` to `pid` only if it is still our master; return whether it was sent."""
    if not is_master_for(pid, conf):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True
