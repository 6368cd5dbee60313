"""extract_upload: good archives unpack; unsafe or oversized ones are refused, leaving nothing."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from xae.builder.upload import extract_upload
from xae.errors import InvalidUpload, UploadTooLarge

MB = 1024 * 1024


def _member(
    name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "", mode: int = 0o644
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.linkname = link
    return info, data


def _archive(*members: tuple[tarfile.TarInfo, bytes], compress: str = "") -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    compressors: dict[str, Callable[[bytes], bytes]] = {
        "": bytes,
        "gz": gzip.compress,
        "bz2": bz2.compress,
        "xz": lzma.compress,
    }
    return io.BytesIO(compressors[compress](buf.getvalue()))


def _extract(
    archive: io.BytesIO, dest: Path, *, max_bytes: int = 10 * MB, max_entries: int = 1000
) -> None:
    extract_upload(archive, dest, max_bytes=max_bytes, max_entries=max_entries)


def _nothing_left(tmp_path: Path, dest: Path) -> bool:
    """Neither dest nor any staging directory survives a refused upload."""
    return not dest.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("compress", ["", "gz", "bz2", "xz"])
def test_good_archive_unpacks_files_dirs_and_inside_links(tmp_path: Path, compress: str) -> None:
    dest = tmp_path / "src"
    archive = _archive(
        _member("./", tarfile.DIRTYPE, mode=0o755),
        _member("./app.py", data=b"print('hi')\n"),
        _member("./bin", tarfile.DIRTYPE, mode=0o755),
        _member("./bin/run", data=b"#!/bin/sh\n", mode=0o755),
        _member("./static/css/site.css", data=b"body{}"),
        _member("./current", tarfile.SYMTYPE, link="static"),
        _member("./static/css/up", tarfile.SYMTYPE, link="../../app.py"),
        _member("./copy.py", tarfile.LNKTYPE, link="./app.py"),
        compress=compress,
    )
    _extract(archive, dest)
    assert (dest / "app.py").read_text() == "print('hi')\n"
    assert (dest / "static/css/site.css").read_bytes() == b"body{}"
    assert os.access(dest / "bin/run", os.X_OK)
    assert (dest / "current").is_symlink() and os.readlink(dest / "current") == "static"
    assert (dest / "static/css/up").read_text() == "print('hi')\n"
    assert (dest / "copy.py").read_text() == "print('hi')\n"
    assert [p.name for p in tmp_path.iterdir()] == ["src"]


def test_extracts_into_an_existing_empty_directory(tmp_path: Path) -> None:
    dest = tmp_path / "src"
    dest.mkdir()
    _extract(_archive(_member("index.html", data=b"<h1>hi</h1>")), dest)
    assert (dest / "index.html").read_bytes() == b"<h1>hi</h1>"


def test_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    dest = tmp_path / "src"
    dest.mkdir()
    (dest / "old").write_text("x")
    with pytest.raises(InvalidUpload, match="not an empty directory"):
        _extract(_archive(_member("index.html", data=b"x")), dest)
    assert (dest / "old").read_text() == "x"


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (_member("/etc/evil", data=b"x"), "absolute path"),
        (_member("../evil", data=b"x"), r"contains '\.\.'"),
        (_member("a/../../evil", data=b"x"), r"contains '\.\.'"),
        (_member("link", tarfile.SYMTYPE, link="/etc/passwd"), "points outside"),
        (_member("link", tarfile.SYMTYPE, link="../outside"), "points outside"),
        (_member("a/b/link", tarfile.SYMTYPE, link="../../../x"), "points outside"),
        (_member("hard", tarfile.LNKTYPE, link="/etc/passwd"), "points outside"),
        (_member("hard", tarfile.LNKTYPE, link="../x"), "points outside"),
        (_member("dev", tarfile.CHRTYPE), "device, fifo"),
        (_member("blk", tarfile.BLKTYPE), "device, fifo"),
        (_member("fifo", tarfile.FIFOTYPE), "device, fifo"),
    ],
    ids=[
        "absolute",
        "dotdot",
        "nested-dotdot",
        "symlink-absolute",
        "symlink-up",
        "symlink-nested-up",
        "hardlink-absolute",
        "hardlink-up",
        "chardev",
        "blockdev",
        "fifo",
    ],
)
def test_refuses_unsafe_entries_and_leaves_nothing(
    tmp_path: Path, member: tuple[tarfile.TarInfo, bytes], message: str
) -> None:
    dest = tmp_path / "src"
    archive = _archive(_member("app.py", data=b"ok"), member, _member("zzz.py", data=b"ok"))
    with pytest.raises(InvalidUpload, match=message) as raised:
        _extract(archive, dest)
    assert repr(member[0].name) in raised.value.message
    assert _nothing_left(tmp_path, dest)
    assert not (tmp_path.parent / "evil").exists()


def test_refuses_a_symlink_chain_that_escapes_through_a_linked_directory(tmp_path: Path) -> None:
    # `here -> .` is harmless alone, but `here/up -> ..` then really points at dest's parent.
    dest = tmp_path / "src"
    archive = _archive(
        _member("here", tarfile.SYMTYPE, link="."),
        _member("here/up", tarfile.SYMTYPE, link=".."),
        _member("here/up/escaped", data=b"x"),
    )
    with pytest.raises(InvalidUpload):
        _extract(archive, dest)
    assert _nothing_left(tmp_path, dest)
    assert not (tmp_path / "escaped").exists()


def test_refuses_writing_through_a_symlink_to_a_directory_outside(tmp_path: Path) -> None:
    dest = tmp_path / "src"
    archive = _archive(
        _member("out", tarfile.SYMTYPE, link="/tmp"),
        _member("out/evil", data=b"x"),
    )
    with pytest.raises(InvalidUpload, match="'out'"):
        _extract(archive, dest)
    assert _nothing_left(tmp_path, dest)


@pytest.mark.parametrize(
    "payload",
    [b"", b"this is not an archive at all, just some text" * 20, b"\x1f\x8b\x08garbage-gzip"],
    ids=["empty", "text", "broken-gzip"],
)
def test_refuses_something_that_is_not_a_tar(tmp_path: Path, payload: bytes) -> None:
    dest = tmp_path / "src"
    with pytest.raises(InvalidUpload, match="could not unpack the upload") as raised:
        _extract(io.BytesIO(payload), dest)
    assert not isinstance(raised.value, UploadTooLarge)
    assert _nothing_left(tmp_path, dest)


def test_refuses_a_truncated_archive_after_writing_part_of_it(tmp_path: Path) -> None:
    dest = tmp_path / "src"
    whole = _archive(_member("a.txt", data=b"a" * 5000), _member("b.txt", data=b"b" * 50_000))
    truncated = io.BytesIO(whole.getvalue()[:20_000])
    with pytest.raises(InvalidUpload):
        _extract(truncated, dest)
    assert _nothing_left(tmp_path, dest)


def test_too_many_bytes_is_upload_too_large(tmp_path: Path) -> None:
    dest = tmp_path / "src"
    archive = _archive(_member("a.bin", data=b"a" * 600), _member("b.bin", data=b"b" * 600))
    with pytest.raises(UploadTooLarge, match="more than 1000 bytes"):
        _extract(archive, dest, max_bytes=1000)
    assert _nothing_left(tmp_path, dest)


def test_exactly_the_byte_limit_is_fine(tmp_path: Path) -> None:
    dest = tmp_path / "src"
    _extract(_archive(_member("a.bin", data=b"a" * 1000)), dest, max_bytes=1000)
    assert (dest / "a.bin").stat().st_size == 1000


def test_too_many_entries_is_upload_too_large(tmp_path: Path) -> None:
    dest = tmp_path / "src"
    archive = _archive(*(_member(f"f{i}.txt", data=b"x") for i in range(6)))
    with pytest.raises(UploadTooLarge, match="more than 5 entries"):
        _extract(archive, dest, max_entries=5)
    assert _nothing_left(tmp_path, dest)


def test_a_compression_bomb_stops_at_the_limit(tmp_path: Path) -> None:
    # 64 MiB of zeros gzip to ~64 KiB; a limit of 1 MiB must stop it long before it is inflated.
    dest = tmp_path / "src"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 64 * MB
        tar.addfile(info, io.BytesIO(bytes(64 * MB)))
    bomb = io.BytesIO(gzip.compress(raw.getvalue(), compresslevel=9))
    assert len(bomb.getvalue()) < MB
    with pytest.raises(UploadTooLarge):
        _extract(bomb, dest, max_bytes=MB)
    assert _nothing_left(tmp_path, dest)


def test_works_on_a_non_seekable_stream(tmp_path: Path) -> None:
    class OneWay(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
            data = self._inner.read(min(len(buffer), 700))
            memoryview(buffer)[: len(data)] = data
            return len(data)

    dest = tmp_path / "src"
    data = _archive(_member("app.py", data=b"x" * 3000), compress="gz").getvalue()
    extract_upload(io.BufferedReader(OneWay(data)), dest, max_bytes=MB, max_entries=10)
    assert (dest / "app.py").read_bytes() == b"x" * 3000
