"""Secrets at rest: config vars are sealed (Fernet: AES-128-CBC + HMAC-SHA256) before they reach
the store, with a key ring kept in a 0600 file beside the database, never in it.

The key ring file (`secrets.key` in the state dir) holds one Fernet key per line, the newest
first: the newest seals, any of them opens (`MultiFernet`), so a rotation can add a key, re-seal
every row, and only then drop the old one (`xae.control.configvars.rotate_key`). A `Vault`
re-reads the file whenever it changes (its inode, size or mtime), so a running control plane
follows a rotation made by `xae-admin rotate-key` without a restart.

The store keeps one sealed blob per row (an app's config, a release's copy of it) plus the key
names in clear, because names are not secret (release descriptions and the audit trail carry
them) and listing them must not need the key. An empty config is the empty string: it hides
nothing, so it needs no key (an app is created, and a fresh store migrated, without one).

What this must never do: log, print or put into an error message a key, a sealed blob's
plaintext or the file's content; write the key file with a mode other than 0600; replace the
key file other than by an atomic rename of a complete, fsynced file.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from xae.errors import XaeError

KEY_FILE = "secrets.key"
"""The key ring's file name in the state dir."""


class VaultError(XaeError):
    """The key ring is missing or broken, or a sealed value does not open with it."""

    code = "vault_error"
    status = 500
    temporary = False


def key_file(state_dir: Path) -> Path:
    return state_dir / KEY_FILE


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new(path: Path, keys: list[bytes]) -> None:
    """Write `keys` to the new file `path` (0600, fsynced); fail if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, b"".join(key + b"\n" for key in keys))
        os.fsync(fd)
    finally:
        os.close(fd)


def _scratch(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}")


def write_keys(path: Path, keys: list[bytes]) -> None:
    """Replace the key ring at `path` with `keys` (newest first), atomically: a crash leaves
    the old file or the new one, never a half-written one."""
    scratch = _scratch(path)
    try:
        _write_new(scratch, keys)
        os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def create_key_file(path: Path) -> bool:
    """Create the key ring at `path` with one new key unless it exists; True if it was made.

    Two processes starting at once cannot make two different rings: the ring is linked into
    place, which fails when the other one got there first."""
    if path.exists() or path.is_symlink():
        return False
    scratch = _scratch(path)
    try:
        _write_new(scratch, [Fernet.generate_key()])
        try:
            os.link(scratch, path)
        except FileExistsError:
            return False
    finally:
        scratch.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return True


def _missing(path: Path) -> VaultError:
    return VaultError(
        f"the key file {path} is missing, so sealed config cannot be opened: restore it from "
        "your backup of the state dir"
    )


def read_keys(path: Path) -> list[bytes]:
    """The keys in the ring at `path`, newest first."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError as e:
        raise _missing(path) from e
    except OSError as e:
        raise VaultError(f"the key file {path} cannot be read ({e.strerror}): fix it") from e
    with os.fdopen(fd, "rb") as f:
        lines = [line.strip() for line in f.read().splitlines() if line.strip()]
    try:
        for line in lines:
            Fernet(line)
    except ValueError as e:
        raise VaultError(
            f"the key file {path} holds something that is not a key: restore it from your backup"
        ) from e
    if not lines:
        raise VaultError(f"the key file {path} is empty: restore it from your backup")
    return lines


RETIRED_GRACE = 60.0
"""Seconds a running vault still opens (never seals) with the keys a re-read dropped: longer
than any transaction that began before a rotation committed."""


class Vault:
    """Seals and opens config with the key ring in `path`, re-read when the file changes."""

    def __init__(
        self,
        path: Path,
        *,
        grace: float = RETIRED_GRACE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._grace, self._clock = grace, clock
        self._retired_until = 0.0
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._keys: list[bytes] = []
        self._retired: MultiFernet | None = None
        """The ring before the last re-read, to open only: a read that began before a
        rotation committed may still hold a value sealed with a key the rotation dropped."""
        self._ring = self._current()

    @classmethod
    def at(cls, path: Path, *, create: bool = False) -> Vault:
        """The vault of the ring at `path`; with `create`, a new ring is made if none exists."""
        if create:
            create_key_file(path)
        return cls(path)

    def _current(self) -> MultiFernet:
        try:
            info = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError as e:
            raise _missing(self.path) from e
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        with self._lock:
            if stamp != self._stamp:
                keys = read_keys(self.path)
                if self._keys and keys != self._keys:
                    self._retired = self._ring
                    self._retired_until = self._clock() + self._grace
                self._keys = keys
                self._ring = MultiFernet([Fernet(key) for key in self._keys])
                self._stamp = stamp
            return self._ring

    @property
    def keys(self) -> list[bytes]:
        """The ring's keys as last read, newest first (for a rotation; never log them)."""
        self._current()
        return list(self._keys)

    def seal(self, config: dict[str, str]) -> str:
        if not config:
            return ""
        plain = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        return self._current().encrypt(plain).decode("ascii")

    def open(self, sealed: str) -> dict[str, str]:
        if not sealed:
            return {}
        try:
            plain = self._decrypt(sealed.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError) as e:
            raise VaultError(
                f"sealed config does not open with the keys in {self.path}: restore the key "
                "file from the backup made with this database"
            ) from e
        config: dict[str, str] = json.loads(plain)
        return config

    def _decrypt(self, token: bytes) -> bytes:
        ring = self._current()
        try:
            return ring.decrypt(token)
        except InvalidToken:
            retired = self._retired
            if retired is None or self._clock() > self._retired_until:
                raise
            return retired.decrypt(token)

    def reseal(self, sealed: str) -> str:
        """`sealed` sealed again with the newest key (for a rotation)."""
        if not sealed:
            return ""
        try:
            return self._current().rotate(sealed.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError) as e:
            raise VaultError(
                f"sealed config does not open with the keys in {self.path}: nothing was "
                "re-sealed; restore the key file from your backup"
            ) from e

    def sealed_with_newest(self, sealed: str) -> bool:
        """Whether `sealed` opens with the newest key alone."""
        if not sealed:
            return True
        newest = Fernet(self.keys[0])
        try:
            newest.decrypt(sealed.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            return False
        return True
