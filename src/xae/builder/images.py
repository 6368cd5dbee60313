"""The locally built images every app is built from.

There is no registry to pull from, so xae makes its own: a Debian root filesystem per suite made
with `debootstrap` and imported into Docker (`xae/rootfs:<suite>`), a common base per suite with
the CA bundle and the unprivileged app user (`xae/base` on bookworm, `xae/base-<suite>` on the
others), one image per stack (`xae/stack-<name>`), and, for a stack offering several language
versions, one run image and one build image per version (`xae/stack-python-3.13`,
`xae/stack-python-3.13-build`). Each image is tagged with a hash of what it is made from, so
`ensure` rebuilds exactly what changed and is quick when nothing did. Run as
`python -m xae.builder.images ensure`.

Versions come from Debian's suites (bookworm carries Python 3.11, trixie 3.13), all reached
through the same package mirror, so nothing is downloaded from outside the registries. What is
slow to make (a debootstrap, a build image with a compiler) is also kept as a tar under
`Settings.image_cache_dir`, keyed by suite or by tag, so a machine whose images were removed gets
them back with a `docker load` in seconds.

A stack adds versions by listing them in `VERSIONS` (see `StackVersion`); its Dockerfile template
in `base_images/<stack>/` gets `{base_image}` (the suite's base) and `{version}`, and the build
image's template in `base_images/<stack>-build/` (when `build_image` is set) gets `{run_image}`.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from xae.config import Settings, get_settings
from xae.docker_client import DockerConnection
from xae.errors import BuildFailed

HERE = Path(__file__).parent / "base_images"
STACKS = ("python", "node", "static")
"""Stacks with one image on the default suite, `xae/stack-<name>` (python's is its default
version's run image, kept for older callers)."""
DEFAULT_SUITE = "bookworm"
ROOTFS = f"xae/rootfs:{DEFAULT_SUITE}"
DEBIAN_MIRROR = "http://deb.debian.org/debian"

Log = Callable[[str], None]


@dataclass(frozen=True)
class StackVersion:
    """One language version a stack offers: which Debian suite carries it."""

    stack: str
    """The stack (build mode), e.g. `python`."""
    version: str
    """The version users ask for, as `major.minor` (python) or `major` (node)."""
    suite: str
    """The Debian suite whose packages carry that version, e.g. `trixie`."""
    build_image: bool = False
    """Whether a build image (compiler, headers) is made from `base_images/<stack>-build/` for
    multi-stage builds; the run image then stays slim."""

    @property
    def name(self) -> str:
        return f"xae/stack-{self.stack}-{self.version}"

    @property
    def build_name(self) -> str:
        return f"{self.name}-build"


VERSIONS: tuple[StackVersion, ...] = (
    StackVersion("python", "3.11", "bookworm", build_image=True),
    StackVersion("python", "3.13", "trixie", build_image=True),
)
"""Every language version on offer, oldest first per stack. A stack with no entry here has
only its one `xae/stack-<name>` image."""


def versions(stack: str) -> list[StackVersion]:
    """The versions `stack` offers, oldest first (empty for a single-image stack)."""
    return [v for v in VERSIONS if v.stack == stack]


def _version_of(stack: str, version: str) -> StackVersion:
    for candidate in VERSIONS:
        if candidate.stack == stack and candidate.version == version:
            return candidate
    offered = ", ".join(v.version for v in versions(stack)) or "none"
    raise BuildFailed(f"the {stack} stack offers no version {version} (it offers: {offered})")


def _hash_dir(path: Path, extra: bytes = b"") -> str:
    digest = hashlib.sha256(extra)
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def base_name(suite: str) -> str:
    return "xae/base" if suite == DEFAULT_SUITE else f"xae/base-{suite}"


def base_tag(settings: Settings, suite: str = DEFAULT_SUITE) -> str:
    extra = settings.ca_bundle.read_bytes() + (b"" if suite == DEFAULT_SUITE else suite.encode())
    return _hash_dir(HERE / "base", extra)


def stack_tag(stack: str, settings: Settings) -> str:
    return _hash_dir(HERE / stack, base_tag(settings).encode())


def version_tag(version: StackVersion, settings: Settings) -> str:
    key = f"{base_tag(settings, version.suite)}:{version.version}".encode()
    return _hash_dir(HERE / version.stack, key)


def build_tag(version: StackVersion, settings: Settings) -> str:
    return _hash_dir(HERE / f"{version.stack}-build", version_tag(version, settings).encode())


def stack_image(stack: str, settings: Settings, version: str | None = None) -> str:
    """The exact image a stack build starts from (the run image of `version`, if given)."""
    if version is None:
        return f"xae/stack-{stack}:{stack_tag(stack, settings)}"
    v = _version_of(stack, version)
    return f"{v.name}:{version_tag(v, settings)}"


def stack_build_image(stack: str, settings: Settings, version: str) -> str:
    """The build image (compiler and headers) of `version` of `stack`."""
    v = _version_of(stack, version)
    if not v.build_image:
        raise BuildFailed(f"the {stack} stack has no build image for version {version}")
    return f"{v.build_name}:{build_tag(v, settings)}"


def _exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def _import_tar(source: Path, ref: str) -> None:
    with source.open("rb") as tar:
        subprocess.run(
            ["docker", "import", "-", ref], stdin=tar, check=True, stdout=subprocess.DEVNULL
        )


def _ensure_rootfs(client: docker.DockerClient, suite: str, cache: Path, log: Log) -> None:
    ref = f"xae/rootfs:{suite}"
    if _exists(client, ref):
        return
    cached = cache / f"rootfs-{suite}.tar"
    if cached.is_file():
        log(f"importing {ref} from {cached}")
        _import_tar(cached, ref)
        return
    if shutil.which("debootstrap") is None:
        raise BuildFailed("debootstrap is not installed; run `make up` to install it")
    log(f"building {ref} with debootstrap (once; about a minute)")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="xae-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=ca-certificates",
                suite,
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        partial = cache / f".rootfs-{suite}.tar.partial"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
        partial.replace(cached)  # only a complete tar ever carries the cached name
    _import_tar(cached, ref)


def _context(directory: Path, template_vars: dict[str, str], extra: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for file in sorted(p for p in directory.rglob("*") if p.is_file()):
            data = file.read_bytes()
            if file.name == "Dockerfile":
                data = data.decode().format(**template_vars).encode()
            info = tarfile.TarInfo(file.relative_to(directory).as_posix())
            info.size = len(data)
            info.mode = file.stat().st_mode & 0o777
            tar.addfile(info, io.BytesIO(data))
        for name, data in extra.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def _build(
    client: docker.DockerClient,
    name: str,
    tag: str,
    context: Callable[[], io.BytesIO],
    log: Log,
    cache: Path | None = None,
) -> None:
    """Build `name:tag` unless it exists (or, with `cache`, unless a saved copy can be loaded;
    a fresh build is then saved there)."""
    ref = f"{name}:{tag}"
    saved = cache / f"{name.replace('/', '_')}-{tag}.tar" if cache is not None else None
    if not _exists(client, ref) and saved is not None and saved.is_file():
        log(f"loading {ref} from {saved}")
        with saved.open("rb") as data:
            client.images.load(data)
    if _exists(client, ref):
        client.images.get(ref).tag(name, "latest")
        return
    log(f"building {ref}")
    for chunk in client.api.build(
        fileobj=context(), custom_context=True, tag=ref, rm=True, forcerm=True, decode=True
    ):
        if "error" in chunk:
            raise BuildFailed(f"building {ref} failed: {chunk['error'].strip()}")
    client.images.get(ref).tag(name, "latest")
    if saved is not None:
        log(f"saving {ref} to {saved}")
        saved.parent.mkdir(parents=True, exist_ok=True)
        partial = saved.with_name(f".{saved.name}.partial")
        with partial.open("wb") as out:
            for piece in client.images.get(ref).save(named=True):
                out.write(piece)
        partial.replace(saved)


def _ensure_base(client: docker.DockerClient, settings: Settings, suite: str, log: Log) -> str:
    _ensure_rootfs(client, suite, settings.image_cache_dir, log)
    tag = base_tag(settings, suite)
    _build(
        client,
        base_name(suite),
        tag,
        lambda: _context(
            HERE / "base",
            {"suite": suite},
            {"ca-bundle.crt": settings.ca_bundle.read_bytes()},
        ),
        log,
    )
    return f"{base_name(suite)}:{tag}"


def ensure(settings: Settings, client: docker.DockerClient, log: Log = print) -> None:
    """Build whatever base or stack image is missing or out of date."""
    bases = {DEFAULT_SUITE: _ensure_base(client, settings, DEFAULT_SUITE, log)}
    btag = base_tag(settings)
    for stack in STACKS:
        _build(
            client,
            f"xae/stack-{stack}",
            stack_tag(stack, settings),
            lambda stack=stack: _context(  # type: ignore[misc]
                HERE / stack,
                {"base_tag": btag, "base_image": bases[DEFAULT_SUITE], "version": ""},
                {},
            ),
            log,
        )
    for version in VERSIONS:
        if version.suite not in bases:
            bases[version.suite] = _ensure_base(client, settings, version.suite, log)
        run_image = stack_image(version.stack, settings, version.version)
        name, _, tag = run_image.partition(":")
        template = {
            "base_tag": "",
            "base_image": bases[version.suite],
            "version": version.version,
        }
        _build(client, name, tag, lambda: _context(HERE / version.stack, template, {}), log)  # noqa: B023
        if version.build_image:
            _build(
                client,
                version.build_name,
                build_tag(version, settings),
                lambda: _context(HERE / f"{version.stack}-build", {"run_image": run_image}, {}),  # noqa: B023
                log,
                cache=settings.image_cache_dir,
            )
    # Node from the npm registry's binaries (imports this module, hence imported here).
    from xae.builder import node_images

    node_images.ensure(settings, client, log)


def main(argv: list[str]) -> int:
    if argv[1:] != ["ensure"]:
        print("usage: python -m xae.builder.images ensure", file=sys.stderr)
        return 2
    settings = get_settings()
    connection = DockerConnection(settings.docker_url)
    try:
        ensure(settings, connection.client(), lambda line: print(f"==> {line}", flush=True))
    finally:
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
