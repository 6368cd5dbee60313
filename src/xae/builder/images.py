"""The locally built images every app is built from.

There is no registry to pull from, so xae makes its own: a Debian root filesystem made with
`debootstrap` and imported into Docker (`xae/rootfs`), a common base with the CA bundle and the
unprivileged app user (`xae/base`), and one image per stack (`xae/stack-<name>`). Each image is
tagged with a hash of what it is made from, so `ensure` rebuilds exactly what changed and is
quick when nothing did. Run as `python -m xae.builder.images ensure`.
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
from pathlib import Path

import docker
import docker.errors

from xae.config import Settings, get_settings
from xae.docker_client import DockerConnection
from xae.errors import BuildFailed

HERE = Path(__file__).parent / "base_images"
STACKS = ("python", "node", "static")
ROOTFS = "xae/rootfs:bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"

Log = Callable[[str], None]


def _hash_dir(path: Path, extra: bytes = b"") -> str:
    digest = hashlib.sha256(extra)
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def base_tag(settings: Settings) -> str:
    return _hash_dir(HERE / "base", settings.ca_bundle.read_bytes())


def stack_tag(stack: str, settings: Settings) -> str:
    return _hash_dir(HERE / stack, base_tag(settings).encode())


def stack_image(stack: str, settings: Settings) -> str:
    """The exact image a stack build starts from."""
    return f"xae/stack-{stack}:{stack_tag(stack, settings)}"


def _exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def _ensure_rootfs(client: docker.DockerClient, log: Log) -> None:
    if _exists(client, ROOTFS):
        return
    log(f"building {ROOTFS} with debootstrap (once; about a minute)")
    with tempfile.TemporaryDirectory(prefix="xae-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=ca-certificates",
                "bookworm",
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "import", "-", ROOTFS],
            stdin=tar.stdout,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if tar.wait() != 0:
            raise BuildFailed("packing the debootstrapped root filesystem failed")


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


def _build(client: docker.DockerClient, name: str, tag: str, context: io.BytesIO, log: Log) -> None:
    ref = f"{name}:{tag}"
    if _exists(client, ref):
        client.images.get(ref).tag(name, "latest")
        return
    log(f"building {ref}")
    for chunk in client.api.build(
        fileobj=context, custom_context=True, tag=ref, rm=True, forcerm=True, decode=True
    ):
        if "error" in chunk:
            raise BuildFailed(f"building {ref} failed: {chunk['error'].strip()}")
    client.images.get(ref).tag(name, "latest")


def ensure(settings: Settings, client: docker.DockerClient, log: Log = print) -> None:
    """Build whatever base or stack image is missing or out of date."""
    if shutil.which("debootstrap") is None and not _exists(client, ROOTFS):
        raise BuildFailed("debootstrap is not installed; run `make up` to install it")
    _ensure_rootfs(client, log)
    btag = base_tag(settings)
    _build(
        client,
        "xae/base",
        btag,
        _context(HERE / "base", {}, {"ca-bundle.crt": settings.ca_bundle.read_bytes()}),
        log,
    )
    for stack in STACKS:
        _build(
            client,
            f"xae/stack-{stack}",
            stack_tag(stack, settings),
            _context(HERE / stack, {"base_tag": btag}, {}),
            log,
        )


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
