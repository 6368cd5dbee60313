"""Issue 7, finding 1: an uploaded tree must never make xae (root) read or write a host file.

The attack that won: `up -> s/s/s/../../..` dangles when it is extracted, a later `s -> .` makes
it lead to `/`, and links through `up` (`.xae.Dockerfile`, `.dockerignore`, `Procfile`) then
made the build preparation write a file where the tenant chose, append to a host file and quote
the first line of the admin password file in an error. Each test here plays one variant against
a "host" directory holding a secret, a canary and a path that must never be created, and checks
that none of them was read, written or created: contents and mtimes are compared, and access
times are pushed into the past first, so a read would show up as a newer atime.

Two layers are tested: the upload gate (`extract_upload`) refuses every such archive, and the
build (`build_image`) refuses such a tree even if one ever got past the gate.
"""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.unit.builder.test_builder_build import OK_CHUNKS, FakeAPI, FakeClient

from xae.builder.build import GENERATED_DOCKERFILE, build_image
from xae.builder.upload import MAX_LINK_DEPTH, extract_upload
from xae.config import Settings
from xae.errors import BuildFailed, InvalidUpload, XaeError

MB = 1024 * 1024
SECRET = "s3cret-admin-password-do-not-leak"
CANARY = "canary: the original content\n"

Member = tuple[tarfile.TarInfo, bytes]


@dataclass
class Host:
    """Files outside the build dir that an attack would read, append to or create."""

    root: Path
    secret: Path
    canary: Path
    target: Path
    """A path an attack would create; must never exist."""
    tracks_reads: bool

    def snapshot(self) -> dict[str, tuple[bytes | None, int, int | None]]:
        seen: dict[str, tuple[bytes | None, int, int | None]] = {}
        for path in sorted([self.root, *self.root.rglob("*")]):
            info = path.lstat()
            is_file = path.is_file()
            content = path.read_bytes() if is_file else None
            # A directory's atime moves with our own listing above: only files' atimes count.
            seen[str(path)] = (
                content,
                info.st_mtime_ns,
                info.st_atime_ns if self.tracks_reads and is_file else None,
            )
        # Reading the contents just now moved the atimes: push them back into the past.
        _age(self.root)
        return seen


def _age(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        os.utime(path, ns=(1_000_000_000, info.st_mtime_ns), follow_symlinks=False)


def _reads_are_visible(probe: Path) -> bool:
    """Whether this filesystem updates access times (relatime does, once atime < mtime)."""
    probe.write_text("probe")
    os.utime(probe, ns=(1_000_000_000, probe.stat().st_mtime_ns))
    probe.read_text()
    visible = probe.stat().st_atime_ns != 1_000_000_000
    probe.unlink()
    return visible


@pytest.fixture
def host(tmp_path: Path) -> Host:
    root = tmp_path / "host"
    (root / "state").mkdir(parents=True)
    secret = root / "state" / "admin-password"
    secret.write_text(SECRET + "\n")
    canary = root / "canary.log"
    canary.write_text(CANARY)
    tracks = _reads_are_visible(tmp_path / "probe")
    found = Host(
        root=root, secret=secret, canary=canary, target=root / "created", tracks_reads=tracks
    )
    _age(root)
    return found


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A build's work dir, nested like `<state>/builds/<app>/<tmp>/`."""
    path = tmp_path / "state" / "builds" / "app" / "work"
    path.mkdir(parents=True)
    return path


def _to_root(count: int = 20) -> str:
    """`s/s/.../../..`: inside the tree while `s` is missing, `/` once `s -> .` exists.

    20 levels reach `/` from the build dirs here, and 21 links per lookup stay under the
    kernel's 40, so a naive extractor would really reach the host (not stop at ELOOP).
    """
    return "s/" * count + "/".join([".."] * count)


def _via_up(path: Path) -> str:
    """A link target through `up` (which would lead to `/`) to `path` on the host."""
    return "up" + str(path)


def _file(name: str, data: bytes = b"x") -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    return info, data


def _symlink(name: str, target: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info, b""


def _hardlink(name: str, target: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE
    info.linkname = target
    return info, b""


def _dir(name: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, b""


def _archive(*members: Member) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    buffer.seek(0)
    return buffer


def _refused(workdir: Path, host: Host, *members: Member) -> InvalidUpload:
    """Extract `members`; assert they are refused with nothing left and the host untouched."""
    before = host.snapshot()
    src = workdir / "src"
    with pytest.raises(InvalidUpload) as raised:
        extract_upload(_archive(*members), src, max_bytes=10 * MB, max_entries=1000)
    assert list(workdir.iterdir()) == [], "a refused upload leaves nothing behind"
    assert host.snapshot() == before, "a host file was read or written"
    assert not host.target.exists()
    assert SECRET not in raised.value.message and "canary" not in raised.value.message
    return raised.value


# --- the upload gate --------------------------------------------------------------------------


def test_the_reported_chain_is_refused_naming_the_escaping_link(workdir: Path, host: Host) -> None:
    error = _refused(
        workdir,
        host,
        _file(
            "pyproject.toml", b'[project]\nname = "x"\ndependencies = ["owned\\nby the tenant"]\n'
        ),
        _symlink("up", _to_root()),
        _symlink(GENERATED_DOCKERFILE, _via_up(host.target)),
        _symlink(".dockerignore", _via_up(host.canary)),
        _symlink("Procfile", _via_up(host.secret)),
        # Last: until now `up` and everything through it looked like it stayed inside.
        _symlink("s", "."),
    )
    assert "'up'" in error.message
    assert "points outside the upload" in error.message


@pytest.mark.parametrize(
    "members",
    [
        # The smallest form: `up` dangles, then `s -> .` turns it into the parent directory.
        [_symlink("up", "s/s/../.."), _symlink("s", "."), _file("index.html")],
        # The dot link first, the escaping link after it.
        [_symlink("s", "."), _symlink("up", "s/s/s/../../.."), _file("index.html")],
        # Nested chain: l1 -> l2/.. with l2 -> l3/l3 and l3 -> . is the tree's parent.
        [
            _symlink("l1", "l2/l2/.."),
            _symlink("l2", "l3/l3"),
            _symlink("l3", "."),
            _file("index.html"),
        ],
        # A chain through a link in a subdirectory: a/b/up -> ../x/../../.. with a/x -> ..
        [
            _dir("a"),
            _dir("a/b"),
            _symlink("a/b/up", "../x/../.."),
            _symlink("a/x", ".."),
            _file("index.html"),
        ],
        # Plain `..` in a link target, through a directory that does not exist.
        [_symlink("up", "missing/../../secret"), _file("index.html")],
        [_dir("a"), _symlink("a/up", "../../secret"), _file("index.html")],
    ],
    ids=[
        "minimal",
        "dot-link-first",
        "nested-chain",
        "chain-in-subdir",
        "dotdot-missing-dir",
        "dotdot-nested",
    ],
)
def test_chains_that_leave_the_tree_are_refused(
    workdir: Path, host: Host, members: list[Member]
) -> None:
    error = _refused(workdir, host, *members)
    assert "points outside the upload" in error.message


def test_a_file_written_through_a_link_is_refused(workdir: Path, host: Host) -> None:
    # `d` would lead to the host once `s -> .` exists; `d/...` must never be written through it.
    error = _refused(
        workdir,
        host,
        _symlink("s", "."),
        _symlink("d", _to_root()),
        _file("d" + str(host.target), b"tenant-controlled"),
    )
    assert "written through the link 'd'" in error.message


def test_a_file_through_a_link_is_refused_even_when_the_link_stays_inside(
    workdir: Path, host: Host
) -> None:
    error = _refused(workdir, host, _dir("sub"), _symlink("d", "sub"), _file("d/x.txt"))
    assert "written through the link 'd'" in error.message


def test_a_link_replacing_an_earlier_file_is_refused(workdir: Path, host: Host) -> None:
    # tarfile would unlink the file and create the link in its place.
    error = _refused(
        workdir, host, _file("Procfile", b"web: x\n"), _symlink("Procfile", str(host.secret))
    )
    assert "appears twice" in error.message or "points outside" in error.message
    error = _refused(workdir, host, _file("Procfile", b"web: x\n"), _symlink("Procfile", "x"))
    assert "appears twice" in error.message


def test_a_link_replacing_a_directory_is_refused(workdir: Path, host: Host) -> None:
    error = _refused(workdir, host, _dir("d"), _file("d/x"), _symlink("d", "."))
    assert "appears twice" in error.message


def test_a_hardlink_to_a_symlink_is_refused(workdir: Path, host: Host) -> None:
    error = _refused(
        workdir,
        host,
        _symlink("s", "."),
        _symlink("up", _to_root()),
        _symlink("leak", _via_up(host.secret)),
        _hardlink("copy", "leak"),
    )
    # `up` would be refused later anyway; the hardlink is refused first, and reads nothing.
    assert "'copy' is a hardlink" in error.message


def test_a_hardlink_to_an_inside_symlink_is_refused(workdir: Path, host: Host) -> None:
    error = _refused(workdir, host, _file("a.txt"), _symlink("l", "a.txt"), _hardlink("h", "l"))
    assert "'h' is a hardlink" in error.message


def test_a_hardlink_through_a_link_dir_is_refused(workdir: Path, host: Host) -> None:
    error = _refused(
        workdir,
        host,
        _symlink("s", "."),
        _symlink("up", _to_root()),
        _hardlink("copy", _via_up(host.secret)),
    )
    assert "'copy' is a hardlink" in error.message


def test_a_hardlink_through_an_inside_link_dir_is_refused(workdir: Path, host: Host) -> None:
    error = _refused(
        workdir, host, _dir("sub"), _file("sub/f"), _symlink("d", "sub"), _hardlink("h", "d/f")
    )
    assert "'h' is a hardlink" in error.message


def test_a_hardlink_to_a_later_file_is_refused(workdir: Path, host: Host) -> None:
    error = _refused(workdir, host, _hardlink("h", "f"), _file("f"))
    assert "'h' is a hardlink" in error.message


@pytest.mark.parametrize("target", ["/etc/passwd", "../x", "a/../../x"])
def test_a_hardlink_out_of_the_tree_is_refused(workdir: Path, host: Host, target: str) -> None:
    error = _refused(workdir, host, _file("a/f"), _hardlink("h", target))
    assert "points outside the upload" in error.message


def test_a_symlink_loop_is_refused(workdir: Path, host: Host) -> None:
    error = _refused(workdir, host, _symlink("a", "b"), _symlink("b", "a"))
    assert "loop" in error.message


def test_a_chain_longer_than_the_bound_is_refused(workdir: Path, host: Host) -> None:
    chain = [_symlink(f"l{i}", f"l{i + 1}") for i in range(MAX_LINK_DEPTH + 1)]
    error = _refused(workdir, host, _file(f"l{MAX_LINK_DEPTH + 1}"), *chain)
    assert f"more than {MAX_LINK_DEPTH} links" in error.message


def test_chains_that_stay_inside_are_kept_and_hardlinks_become_copies(
    workdir: Path, host: Host
) -> None:
    before = host.snapshot()
    src = workdir / "src"
    extract_upload(
        _archive(
            _file("dir/x.txt", b"hello"),
            _symlink("s", "."),
            _symlink("l3", "s/s/dir"),
            _symlink("l2", "l3/x.txt"),
            _symlink("l1", "l2"),
            _symlink("dir/back", "../s/dir/../l1"),
            _hardlink("copy.txt", "dir/x.txt"),
        ),
        src,
        max_bytes=MB,
        max_entries=100,
    )
    assert (src / "l1").read_text() == "hello"
    assert (src / "dir" / "back").read_text() == "hello"
    assert os.readlink(src / "s") == "."
    copy = src / "copy.txt"
    assert not copy.is_symlink() and copy.read_text() == "hello"
    assert copy.stat().st_ino != (src / "dir" / "x.txt").stat().st_ino
    assert host.snapshot() == before


def test_hardlink_copies_count_towards_the_size_limit(workdir: Path) -> None:
    members = [_file("big", b"x" * 600), *(_hardlink(f"h{i}", "big") for i in range(3))]
    with pytest.raises(InvalidUpload, match="more than 1000 bytes"):
        extract_upload(_archive(*members), workdir / "src", max_bytes=1000, max_entries=100)
    assert list(workdir.iterdir()) == []


# --- the build, on a tree that got past the gate anyway ---------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    bundle = tmp_path / "ca.crt"
    bundle.write_text("test bundle")
    return Settings(state_dir=tmp_path / "xae-state", ca_bundle=bundle)


def _hostile_tree(workdir: Path, files: dict[str, str], links: dict[str, Path]) -> Path:
    src = workdir / "src"
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(text)
    for name, target in links.items():
        (src / name).symlink_to(target)
    return src


def _build_fails(src: Path, settings: Settings, host: Host, api: FakeAPI) -> XaeError:
    before = host.snapshot()
    with pytest.raises(XaeError) as raised:
        build_image(
            FakeClient(api), src, app="web1", tag="v1", settings=settings, log=lambda _: None
        )
    assert host.snapshot() == before, "a host file was read or written"
    assert not host.target.exists()
    assert SECRET not in raised.value.message
    return raised.value


def test_a_procfile_linking_out_is_refused_without_reading_it(
    workdir: Path, host: Host, settings: Settings
) -> None:
    src = _hostile_tree(workdir, {"index.html": "hi"}, {"Procfile": host.secret})
    api = FakeAPI(OK_CHUNKS)
    error = _build_fails(src, settings, host, api)
    assert "Procfile" in error.message and "outside" in error.message
    assert api.build_calls == []


def test_a_dockerignore_linking_out_is_neither_read_nor_appended_to(
    workdir: Path, host: Host, settings: Settings
) -> None:
    src = _hostile_tree(workdir, {"index.html": "hi"}, {".dockerignore": host.canary})
    error = _build_fails(src, settings, host, FakeAPI(OK_CHUNKS))
    assert isinstance(error, BuildFailed)
    assert ".dockerignore" in error.message and "outside" in error.message
    assert host.canary.read_text() == CANARY


def test_a_generated_dockerfile_name_linking_out_is_never_written(
    workdir: Path, host: Host, settings: Settings
) -> None:
    src = _hostile_tree(
        workdir,
        {
            "pyproject.toml": '[project]\nname = "x"\ndependencies = ["tenant-text"]\n',
            "app.py": "",
            "Procfile": "web: python app.py\n",
        },
        {GENERATED_DOCKERFILE: host.target},
    )
    before = host.snapshot()
    api = FakeAPI(OK_CHUNKS)
    build_image(FakeClient(api), src, app="web1", tag="v1", settings=settings, log=lambda _: None)
    assert host.snapshot() == before
    assert not host.target.exists()
    # The daemon got xae's Dockerfile under that name; the tenant's link stayed as it was.
    assert api.context_at_build[GENERATED_DOCKERFILE].startswith("# Generated by xae")
    assert "tenant-text" in api.context_at_build[GENERATED_DOCKERFILE]
    assert (src / GENERATED_DOCKERFILE).is_symlink()
    assert sorted(p.name for p in src.iterdir()) == [
        GENERATED_DOCKERFILE,
        "Procfile",
        "app.py",
        "pyproject.toml",
    ]


@pytest.mark.parametrize("name", ["index.html", "requirements.txt", "package.json", "app.py"])
def test_a_manifest_linking_out_is_refused(
    workdir: Path, host: Host, settings: Settings, name: str
) -> None:
    files = {"requirements.txt": "flask\n"} if name == "app.py" else {}
    src = _hostile_tree(workdir, files, {name: host.secret})
    error = _build_fails(src, settings, host, FakeAPI(OK_CHUNKS))
    assert name in error.message and "outside" in error.message
