"""Safe extraction of an uploaded source archive (tar, tar.gz, tar.bz2, tar.xz).

An upload is the least trusted input xae takes: anyone who may deploy can send any bytes. This
module is the one gate between those bytes and the build directory, so it must never write
outside `dest`, never create device files or links that point out of it, never let a small
compressed file expand without bound, and never leave a half-extracted tree behind.

How: the archive is read as a stream (it is never seeked, so a socket or a spooled upload both
work); every decompressed byte is counted so a compression bomb stops at the limit, whatever its
headers claim; each member is checked by our own rules first, then extracted with tarfile's
`filter="data"` as a second line of defence; everything lands in a temporary sibling directory
that is renamed into place only when the whole archive was good.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO, Protocol

from xae.errors import InvalidUpload, UploadTooLarge

_HOW = "create it from inside the app directory, e.g. `tar -C myapp -czf app.tar.gz .`"

# Room for tar's own headers and padding on top of the file contents that max_bytes counts:
# every member costs at least one 512-byte header plus up to 511 bytes of padding.
_OVERHEAD_PER_ENTRY = 2048
_OVERHEAD_FIXED = 1024 * 1024


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


def _inside(root: str, path: str) -> bool:
    """Whether `path` (following any symlinks already on disk) stays within `root`."""
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)


def _check_member(member: tarfile.TarInfo, root: str) -> None:
    """Our own rules for one member, applied before tarfile's data filter sees it."""
    name = member.name
    entry = f"archive entry {name!r}"
    if not name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise InvalidUpload(f"{entry} has an absolute path; {_HOW}")
    if ".." in name.split("/"):
        raise InvalidUpload(f"{entry} contains '..'; {_HOW}")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise InvalidUpload(
            f"{entry} is a device, fifo or other special file; an upload may contain only "
            "regular files, directories and links that stay inside it"
        )
    target = os.path.join(root, name)
    if not _inside(root, target):
        raise InvalidUpload(f"{entry} would be written through a link that leaves the upload")
    if member.issym() or member.islnk():
        link = member.linkname
        kind = "symlink" if member.issym() else "hardlink"
        problem = f"{entry} is a {kind} to {link!r}, which points outside the upload"
        if not link or link.startswith("/"):
            raise InvalidUpload(f"{problem}; links must be relative and stay inside the app")
        # A symlink's target is relative to its own directory; a hardlink's to the archive root.
        base = posixpath.dirname(name) if member.issym() else ""
        lexical = posixpath.normpath(posixpath.join(base, link))
        if lexical == ".." or lexical.startswith("../"):
            raise InvalidUpload(f"{problem}; links must stay inside the app")
        if not _inside(root, os.path.join(root, base, link)):
            raise InvalidUpload(f"{problem}; links must stay inside the app")


def _extract_all(tar: tarfile.TarFile, root: str, *, max_bytes: int, max_entries: int) -> None:
    total = 0
    for entries, member in enumerate(tar, start=1):
        if entries > max_entries:
            raise UploadTooLarge(
                f"the upload has more than {max_entries} entries; leave dependencies "
                "(node_modules, .venv) and build outputs out of it"
            )
        if member.isreg():
            total += member.size
            if total > max_bytes:
                raise UploadTooLarge(_too_large(max_bytes))
        _check_member(member, root)
        try:
            tar.extract(member, root, set_attrs=True, filter="data")
        except tarfile.FilterError as e:
            raise InvalidUpload(f"archive entry {member.name!r} was refused: {e}") from e


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
    root = os.path.realpath(staging)
    limit = max_bytes + max_entries * _OVERHEAD_PER_ENTRY + _OVERHEAD_FIXED
    try:
        counted = _CountingReader(_decompressed(fileobj), limit, max_bytes)
        try:
            with tarfile.open(fileobj=counted, mode="r|") as tar:
                _extract_all(tar, root, max_bytes=max_bytes, max_entries=max_entries)
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as e:
            # OSError covers gzip.BadGzipFile and truncated streams; our own errors are not
            # OSErrors and pass through untouched.
            raise InvalidUpload(
                f"could not unpack the upload ({e}); send a .tar or .tar.gz archive, "
                f"{_HOW}"
            ) from e
        if dest.exists():
            dest.rmdir()
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
