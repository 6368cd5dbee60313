"""Safe extraction of an uploaded source archive (tar, tar.gz, tar.bz2, tar.xz).

An upload is the least trusted input xae takes: anyone who may deploy can send any bytes, and
xae unpacks them as root. This module is the one gate between those bytes and the build
directory, so it must never write or read outside `dest`, never create device files or links
that lead out of it, never let a small compressed file expand without bound, and never leave a
half-extracted tree behind.

Why not tarfile's `extract(filter="data")` with per-member checks: a link is then judged against
the tree as extracted so far. A link that dangles when it is checked (`up -> s/s/../..`) passes,
a later `s -> .` makes it lead to `/`, and everything written or read through `up` afterwards
lands on the host. So extraction happens in two phases that never follow a link:

1. Regular files and directories are written through directory file descriptors opened with
   `O_NOFOLLOW`, files with `O_CREAT | O_EXCL`, so no existing path is ever replaced or
   traversed. No link exists on disk during this phase: symlinks are only recorded, and a
   hardlink becomes a copy of an earlier regular file of the same archive (never `os.link`).
   Any entry whose path runs through a recorded symlink is refused.
2. Once the whole archive is in place, every symlink's target is resolved lexically over the
   archive's own namespace (chains followed, with a depth bound); a target that is absolute or
   leaves the tree at any step refuses the upload. Only then are the symlinks created.

Everything lands in a temporary sibling directory renamed into place only when the whole
archive was good. The archive is read as a stream (never seeked) and every decompressed byte is
counted, so a compression bomb stops at the limit whatever its headers claim.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from xae.errors import InvalidUpload, UploadTooLarge

_HOW = "create it from inside the app directory, e.g. `tar -C myapp -czf app.tar.gz .`"

# Room for tar's own headers and padding on top of the file contents that max_bytes counts:
# every member costs at least one 512-byte header plus up to 511 bytes of padding.
_OVERHEAD_PER_ENTRY = 2048
_OVERHEAD_FIXED = 1024 * 1024

MAX_DEPTH = 64
"""Most path components an entry's name may have."""

MAX_LINK_DEPTH = 40
"""Most symlinks one link's target may run through (Linux gives up at 40 too)."""

MAX_LINK_TARGET = 1024
"""Longest symlink target, in characters; source trees need far less."""

_CHUNK = 1024 * 1024
_LATEST_MTIME = 2**33  # year 2242; a PAX header may claim any number
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

Parts = tuple[str, ...]
"""A path inside the upload as its components, e.g. ("static", "css", "site.css")."""


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _PrefixedReader(io.RawIOBase):
    """`head` followed by the rest of `rest`: lets us sniff magic bytes from a non-seekable
    stream and still hand the whole stream on."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


class _CountingReader(io.RawIOBase):
    """Raises UploadTooLarge as soon as more than `limit` bytes have been read through it."""

    def __init__(self, inner: _Readable, limit: int, max_bytes: int) -> None:
        self._inner = inner
        self._limit = limit
        self._max_bytes = max_bytes
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self._inner.read(len(view))
        self.count += len(data)
        if self.count > self._limit:
            raise UploadTooLarge(_too_large(self._max_bytes))
        view[: len(data)] = data
        return len(data)


def _too_large(max_bytes: int) -> str:
    return (
        f"the upload unpacks to more than {max_bytes} bytes; leave build outputs, dependencies "
        "(node_modules, .venv) and data files out of it"
    )


def _decompressed(fileobj: BinaryIO) -> _Readable:
    """The uncompressed tar stream, whatever compression (if any) the upload used."""
    head = fileobj.read(6)
    stream = io.BufferedReader(_PrefixedReader(head, fileobj))
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if head.startswith(b"BZh"):
        return bz2.BZ2File(stream, mode="rb")
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(stream, mode="rb")
    return stream


def _show(name: str) -> str:
    """An archive name for a message: quoted, and cut short (names can be megabytes long)."""
    return repr(name if len(name) <= 120 else name[:120] + "...")


def _entry(name: str) -> str:
    return f"archive entry {_show(name)}"


def _parts(name: str) -> Parts:
    """The components of a member name; InvalidUpload if it could point outside the upload."""
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise InvalidUpload(f"{_entry(name)} has an absolute path; {_HOW}")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise InvalidUpload(f"{_entry(name)} contains '..'; {_HOW}")
    if len(parts) > MAX_DEPTH:
        raise InvalidUpload(f"{_entry(name)} is nested more than {MAX_DEPTH} directories deep")
    return parts


def _outside(name: str, kind: str, link: str) -> InvalidUpload:
    return InvalidUpload(
        f"{_entry(name)} is a {kind} to {_show(link)}, which points outside the upload; "
        "links must be relative and stay inside the app"
    )


class _Tree:
    """The staging directory, written only through directory descriptors opened with
    O_NOFOLLOW, plus what each path in it is: `dir`, `file` or (recorded, not yet created)
    `symlink`. No link exists on disk until `create_symlinks`."""

    def __init__(self, root: str) -> None:
        self._root_fd = os.open(root, _DIR_FLAGS)
        self._kinds: dict[Parts, str] = {(): "dir"}
        self._symlinks: dict[Parts, str] = {}
        self._names: dict[Parts, str] = {}

    def close(self) -> None:
        os.close(self._root_fd)

    def _open_dir(self, parts: Parts, name: str) -> int:
        """A descriptor for directory `parts`, creating missing directories on the way."""
        fd = os.dup(self._root_fd)
        try:
            for i, component in enumerate(parts):
                prefix = parts[: i + 1]
                kind = self._kinds.get(prefix)
                if kind == "symlink":
                    raise InvalidUpload(
                        f"{_entry(name)} would be written through the link "
                        f"{_show(self._names[prefix])}; an upload may not write through links"
                    )
                if kind == "file":
                    raise InvalidUpload(
                        f"{_entry(name)} is inside {_show(self._names[prefix])}, which is a file"
                    )
                if kind is None:
                    os.mkdir(component, 0o755, dir_fd=fd)
                    self._kinds[prefix] = "dir"
                    self._names[prefix] = "/".join(prefix)
                child = os.open(component, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _claim(self, parts: Parts, name: str, kind: str) -> None:
        existing = self._kinds.get(parts)
        if existing is not None:
            raise InvalidUpload(
                f"{_entry(name)} appears twice in the upload (or clashes with "
                f"{_show(self._names.get(parts, name))}); each path may occur only once"
            )
        self._kinds[parts] = kind
        self._names[parts] = name

    def add_dir(self, parts: Parts, name: str) -> None:
        kind = self._kinds.get(parts)
        if kind == "dir":
            return  # listed again, or created earlier as a file's parent: nothing to do
        if kind is not None:
            self._claim(parts, name, "dir")
        os.close(self._open_dir(parts, name))

    def add_file(self, parts: Parts, name: str, data: IO[bytes], mode: int, mtime: float) -> None:
        if not parts:
            raise InvalidUpload(f"{_entry(name)} is a file where the upload's top directory is")
        parent = self._open_dir(parts[:-1], name)
        try:
            self._claim(parts, name, "file")
            fd = os.open(parts[-1], _NEW_FILE_FLAGS, 0o600, dir_fd=parent)
        finally:
            os.close(parent)
        try:
            while chunk := data.read(_CHUNK):
                _write_all(fd, chunk)
            # Keep the execute bits; nothing setuid, setgid, sticky or writable by others.
            os.fchmod(fd, (mode & 0o755) | 0o644)
            stamp = mtime if 0 <= mtime < _LATEST_MTIME else 0
            os.utime(fd, (stamp, stamp))
        finally:
            os.close(fd)

    def open_file(self, parts: Parts, name: str, link: str) -> BinaryIO:
        """An earlier regular file of this archive, for reading (a hardlink's source)."""
        if self._kinds.get(parts) != "file":
            raise InvalidUpload(
                f"{_entry(name)} is a hardlink to {_show(link)}, which is not a regular file "
                "earlier in the upload; a hardlink may only repeat a file the archive already "
                "contains"
            )
        parent = self._open_dir(parts[:-1], name)
        try:
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        finally:
            os.close(parent)
        return os.fdopen(fd, "rb")

    def add_symlink(self, parts: Parts, name: str, target: str) -> None:
        if not parts:
            raise InvalidUpload(f"{_entry(name)} is a link where the upload's top directory is")
        if not target or target.startswith("/"):
            raise _outside(name, "symlink", target)
        if len(target) > MAX_LINK_TARGET:
            raise InvalidUpload(
                f"{_entry(name)} is a symlink with a target longer than {MAX_LINK_TARGET} "
                "characters"
            )
        os.close(self._open_dir(parts[:-1], name))
        self._claim(parts, name, "symlink")
        self._symlinks[parts] = target

    def check_symlinks(self) -> None:
        """Refuse the upload if any symlink, followed through the whole archive, leaves it."""
        resolved: dict[Parts, Parts] = {}
        for parts in self._symlinks:
            self._resolve_link(parts, resolved, ())

    def _resolve_link(
        self, parts: Parts, resolved: dict[Parts, Parts], following: tuple[Parts, ...]
    ) -> Parts:
        """Where the symlink at `parts` finally leads, as a path inside the upload."""
        if parts in resolved:
            return resolved[parts]
        name = self._names[parts]
        if parts in following or len(following) >= MAX_LINK_DEPTH:
            raise InvalidUpload(
                f"{_entry(name)} is a symlink in a loop or a chain of more than "
                f"{MAX_LINK_DEPTH} links"
            )
        target = self._symlinks[parts]
        current = list(parts[:-1])
        for component in target.split("/"):
            if component in ("", "."):
                continue
            if component == "..":
                if not current:
                    raise _outside(name, "symlink", target)
                current.pop()
                continue
            current.append(component)
            if tuple(current) in self._symlinks:
                # Exactly what the kernel does: carry on from where that link leads.
                current = list(self._resolve_link(tuple(current), resolved, (*following, parts)))
        resolved[parts] = tuple(current)
        return resolved[parts]

    def create_symlinks(self) -> None:
        for parts, target in self._symlinks.items():
            parent = self._open_dir(parts[:-1], self._names[parts])
            try:
                os.symlink(target, parts[-1], dir_fd=parent)
            finally:
                os.close(parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _extract_all(tar: tarfile.TarFile, tree: _Tree, *, max_bytes: int, max_entries: int) -> None:
    total = 0
    for entries, member in enumerate(tar, start=1):
        if entries > max_entries:
            raise UploadTooLarge(
                f"the upload has more than {max_entries} entries; leave dependencies "
                "(node_modules, .venv) and build outputs out of it"
            )
        name = member.name
        parts = _parts(name)
        if member.isdir():
            tree.add_dir(parts, name)
        elif member.isreg():
            total += member.size
            if total > max_bytes:
                raise UploadTooLarge(_too_large(max_bytes))
            data = tar.extractfile(member)
            assert data is not None  # a regular member always has a body
            tree.add_file(parts, name, data, member.mode, member.mtime)
        elif member.issym():
            tree.add_symlink(parts, name, member.linkname)
        elif member.islnk():
            link = member.linkname
            if not link or link.startswith("/") or ".." in link.split("/"):
                raise _outside(name, "hardlink", link)
            source_parts = _parts(link)
            with tree.open_file(source_parts, name, link) as source:
                size = os.fstat(source.fileno()).st_size
                total += size  # a copy costs disk like any file: no hardlink bombs
                if total > max_bytes:
                    raise UploadTooLarge(_too_large(max_bytes))
                tree.add_file(parts, name, source, member.mode, member.mtime)
        else:
            raise InvalidUpload(
                f"{_entry(name)} is a device, fifo or other special file; an upload may contain "
                "only regular files, directories and links that stay inside it"
            )
    tree.check_symlinks()
    tree.create_symlinks()


def extract_upload(fileobj: BinaryIO, dest: Path, *, max_bytes: int, max_entries: int) -> None:
    """Extract a tar archive (optionally gzip, bzip2 or xz compressed) from `fileobj` into `dest`.

    `dest` must not exist or be an empty directory. On success it holds the archive's tree; on
    any error nothing is left at `dest` that was not there before. Raises InvalidUpload for
    anything that is not a well-formed, safe archive and UploadTooLarge when the unpacked files
    exceed `max_bytes` or the archive has more than `max_entries` entries.
    """
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidUpload(f"cannot extract into {dest}: it exists and is not an empty directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would otherwise become the source tree's mode
    limit = max_bytes + max_entries * _OVERHEAD_PER_ENTRY + _OVERHEAD_FIXED
    try:
        tree = _Tree(str(staging))
        try:
            counted = _CountingReader(_decompressed(fileobj), limit, max_bytes)
            with tarfile.open(fileobj=counted, mode="r|") as tar:
                _extract_all(tar, tree, max_bytes=max_bytes, max_entries=max_entries)
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as e:
            # OSError covers gzip.BadGzipFile and truncated streams; our own errors are not
            # OSErrors and pass through untouched.
            raise InvalidUpload(
                f"could not unpack the upload ({str(e)[:200]}); send a .tar or .tar.gz archive, "
                f"{_HOW}"
            ) from e
        finally:
            tree.close()
        if dest.exists():
            dest.rmdir()
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
