"""The nginx workers' temp dirs when xae runs as root: outside the private state dir, owned by
the unprivileged worker user, and built so that user cannot turn them against root.

Why they live elsewhere: workers drop to `nobody`, and the state dir (with the router dir in it)
is 0700 root, so a worker could not create the files it buffers large request and response
bodies in. Everything else in the router dir is opened by the root master only.

What this must never allow: nginx's master (root) `chown`s each temp path to the worker user
after a `stat` that follows links, so a `body -> /etc` planted by anything running as `nobody`
would hand /etc over. Hence every directory on the way down is root-owned and not writable by
others (or sticky), the per-router dir is root's (workers cannot add, swap or remove entries
in it), and each temp dir in it is created here, checked to be a real directory, owned by the
worker user and 0700 before nginx ever sees it.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import pwd
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from xae.errors import RouterFailure
from xae.router.layout import TEMP_KINDS

SHARED_DIR_MODE = 0o711
"""Root's dirs on the way to the temp dirs: workers may pass through, not list or write."""


@dataclass(frozen=True)
class WorkerIdentity:
    """Who nginx workers run as when the master is root."""

    user: str
    group: str | None
    uid: int
    gid: int

    @property
    def directive(self) -> str:
        """The value of nginx's `user` directive."""
        return f"{self.user} {self.group}" if self.group else self.user


def worker_identity() -> WorkerIdentity | None:
    """`nobody` (with group `nogroup` where it exists) as root; None as any other user."""
    if os.geteuid() != 0:
        return None
    try:
        account = pwd.getpwnam("nobody")
    except KeyError:
        return None
    for group in ("nogroup", "nobody"):
        with contextlib.suppress(KeyError):
            return WorkerIdentity("nobody", group, account.pw_uid, grp.getgrnam(group).gr_gid)
    return WorkerIdentity("nobody", None, account.pw_uid, account.pw_gid)


def temp_root_for(base: Path, router_dir: Path) -> Path:
    """The per-router temp dir under `base`, named after the router dir (one per state dir)."""
    key = hashlib.sha256(str(router_dir.resolve()).encode()).hexdigest()[:16]
    return base / key


def _refuse(path: Path, why: str) -> RouterFailure:
    return RouterFailure(
        f"cannot keep the router's worker temp files under {path}: {why}; set "
        "XAE_ROUTER_TEMP_DIR to a directory that only root can write to"
    )


def _check_root_dir(path: Path) -> None:
    """`path` is a real directory of root's that no one else can write to and `nobody` can
    pass through."""
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise _refuse(path, "it is not a directory")
    if st.st_uid != 0:
        raise _refuse(path, f"it belongs to uid {st.st_uid}, not root")
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        raise _refuse(path, "others may write to it")
    if not st.st_mode & stat.S_IXOTH:
        raise _refuse(path, "the worker user cannot pass through it")


def prepare(root: Path, worker: WorkerIdentity) -> None:
    """Create (or check) `root` and one temp dir per kind in it, owned by `worker`, 0700."""
    real = Path(os.path.realpath(root))
    for directory in [*reversed(real.parents), real]:
        try:
            _check_root_dir(directory)
        except FileNotFoundError:
            os.mkdir(directory, SHARED_DIR_MODE)
            os.chmod(directory, SHARED_DIR_MODE)  # mkdir's mode is cut by the umask
            _check_root_dir(directory)
    for kind in TEMP_KINDS:
        path = real / kind
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise _refuse(path, "it is not a directory")
        os.chown(path, worker.uid, worker.gid, follow_symlinks=False)
        os.chmod(path, 0o700)


def remove(root: Path) -> None:
    """Remove the per-router temp dir and what workers left in it (links are not followed)."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(root)
