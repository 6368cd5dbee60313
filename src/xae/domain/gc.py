"""Garbage collection, decided: which builds' images an app keeps, and what a pass reports.

Every deploy leaves an image behind; without a bound a busy app fills the disk. An app keeps the
images of its newest `keep` released builds (rollback targets), plus any build that is current,
in a live traffic split or still run by an instance, plus any build newer than the newest
released one (a deploy between its build and its release must never lose its image). Everything
else of the app's images is collectable.

Pure: the control plane reads the store and the backend, this module decides, a `Reclaimer`
(the engine's side: `xae.builder.reclaim`) removes. It must never decide from anything a
tenant shaped (labels of the app's own image, its tags): only from the store's rows.

An image deploy from a registry (`xae deploy --image nginx:1.27`) brings an image xae did not
build. The docker runtime marks each image it pulls with a tag of this plane's
(`pulled_marker`), so such an image is collected once no kept release runs it, and an image that
was on the engine before (the operator's own) is never touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from xae.domain.images import parse_image_ref
from xae.errors import XaeError


@dataclass(frozen=True)
class ReleaseRow:
    """What the keep-set needs of one release."""

    version: int
    build_id: int | None
    succeeded: bool


def keep_builds(
    releases: Iterable[ReleaseRow],
    *,
    keep: int,
    current: int | None,
    in_split: Iterable[int] = (),
    running: Iterable[int] = (),
    builds: Iterable[int] = (),
) -> set[int]:
    """The ids of the builds whose images an app keeps.

    `releases` are the app's releases; `current`, `in_split` and `running` are release
    versions (the current one, the split's, those an instance runs); `builds` are the app's
    build ids, of which any newer than the newest released build is kept (it is on its way to
    becoming a release). The newest `keep` distinct builds of succeeded releases are kept, so
    `keep` rollback targets with distinct images remain whatever the config changes between.
    """
    if keep < 1:
        raise ValueError("keep at least the current release's image")
    rows = sorted(releases, key=lambda r: r.version, reverse=True)
    by_version = {r.version: r.build_id for r in rows}
    kept: set[int] = set()
    for row in rows:
        if len(kept) >= keep:
            break
        if row.succeeded and row.build_id is not None:
            kept.add(row.build_id)
    for version in (current, *in_split, *running):
        build = by_version.get(version) if version is not None else None
        if build is not None:
            kept.add(build)
    released = [r.build_id for r in rows if r.build_id is not None]
    newest = max(released, default=0)
    kept.update(b for b in builds if b > newest)
    return kept


@dataclass(frozen=True)
class AppImage:
    """One of an app's images on the engine (or in the registry), as the reclaimer sees it."""

    app: str
    ref: str
    """`xae/app-<app>:<tag>` (or `<registry>/xae/app-<app>:<tag>`)."""
    size: int = 0
    """Bytes of its own layers (those no other image shares); 0 when unknown."""


PULLED_REPOSITORY = "xae/pulled-"
"""The repository of the marker tags (`xae/pulled-<plane>:<key>`) on pulled images."""


def pulled_key(image: str) -> str:
    """The key of the reference `image` in marker tags: a hash of it as the engine reads it
    (`nginx:1.27` and `docker.io/library/nginx:1.27` are one), since a tag cannot hold a
    reference. The same on every plane."""
    return hashlib.sha256(canonical_ref(image).encode()).hexdigest()[:40]


def pulled_marker(plane: str, image: str) -> str:
    """The tag `plane`'s runtime gives the image it pulled for the reference `image`."""
    return f"{PULLED_REPOSITORY}{plane}:{pulled_key(image)}"


def canonical_ref(image: str) -> str:
    """`image` spelled out in full, as the engine pulls it (`docker.io/library/nginx:latest`,
    `ghcr.io/a/b@sha256:...`); as given if it is not a reference (nothing pulled it)."""
    try:
        ref = parse_image_ref(image)
    except XaeError:
        return image
    if ref.digest:  # the engine pulls `name:tag@digest` by its digest alone
        return f"{ref.repository}@{ref.digest}"
    return f"{ref.repository}:{ref.tag or 'latest'}"


@dataclass(frozen=True)
class PulledImage:
    """An image this plane's runtime pulled for an image deploy, as the engine holds it."""

    id: str
    markers: frozenset[str]
    """This plane's marker tags on it: one for each reference it was pulled by."""
    tags: frozenset[str]
    """Its other references, tags and digests: those it was pulled by, other planes' markers,
    any other."""
    size: int = 0
    """Bytes of its own layers (those no other image shares)."""


def pulled_removals(
    images: Iterable[PulledImage], in_use: set[str]
) -> list[tuple[PulledImage, list[str]]]:
    """For each pulled image with markers of this plane that no kept release's image names
    (`in_use`: the `pulled_key`s of every kept build's image, of every app), the tags to
    remove, in order: the references it was pulled by for those markers, then the markers.

    A reference stays while a marker for it stays (in use here, or another plane's), and a tag
    that no marker names (the operator's, anything in xae's namespace) is never removed: the
    engine deletes an image only once no tag is left, so such a tag keeps it. References go
    before markers, so should a removal fail, the marker is still there for the next pass."""
    removals: list[tuple[PulledImage, list[str]]] = []
    for image in images:
        doomed = {m for m in image.markers if _key(m) not in in_use}
        if not doomed:
            continue
        others = {t for t in image.tags if t.startswith(PULLED_REPOSITORY)}
        kept = {_key(m) for m in (image.markers - doomed) | others}
        gone = {_key(m) for m in doomed} - kept
        references = [
            t for t in sorted(image.tags) if not t.startswith("xae/") and pulled_key(t) in gone
        ]
        removals.append((image, [*references, *sorted(doomed)]))
    return removals


def _key(marker: str) -> str:
    return marker.rpartition(":")[2]


@dataclass
class Collected:
    """What one pass removed (or, in a dry run, would remove)."""

    images: list[str] = field(default_factory=list)
    """App images no release keeps."""
    registry_tags: list[str] = field(default_factory=list)
    """Their tags in the cluster's registry (kubernetes)."""
    dangling: int = 0
    """Untagged images of this plane."""
    containers: list[str] = field(default_factory=list)
    """Stopped containers of this plane (finished one-offs, leftovers)."""
    build_dirs: list[str] = field(default_factory=list)
    """Temporary build directories no build uses."""
    build_cache: int = 0
    """Build cache entries (BuildKit's, where the engine has it)."""
    previews: list[str] = field(default_factory=list)
    """Preview apps destroyed for being idle."""
    reclaimed_bytes: int = 0
    """Bytes freed, as the engine reports them (0 in a dry run: nothing is freed)."""
    estimated_bytes: int = 0
    """Bytes the removed (or to be removed) app images held of their own."""
    errors: list[str] = field(default_factory=list)
    """What could not be removed, and why (a pass removes what it can)."""


@dataclass(frozen=True)
class DiskUsage:
    """Bytes xae's data takes on this machine, by kind (`xae status`)."""

    images: int
    """xae's images on the engine (the plane's app images' own layers, plus the base and
    stack images)."""
    builds: int
    """Temporary build directories plus the engine's build cache."""
    logs: int
    """The log files of the plane's containers."""
    repositories: int
    """The apps' git repositories (`<state_dir>/repos`)."""


class Reclaimer(Protocol):
    """The engine's side of garbage collection (`xae.builder.reclaim` on Docker)."""

    active: bool
    """False for a platform without an engine (`NoReclaimer`): nothing is collected, and no
    build is marked as collected."""

    def app_images(self, app: str | None = None) -> list[AppImage]:
        """The plane's app images (of `app`, or of every app)."""
        ...

    def remove_image(self, ref: str) -> None:
        """Untag `ref` (and delete the image when no tag is left)."""
        ...

    def prune(
        self,
        collected: Collected,
        *,
        dry_run: bool,
        container_age: float,
        cache_bound: int,
        apps: frozenset[str],
    ) -> None:
        """Dangling images, stopped one-offs and stopped containers of apps not in `apps`
        (leftovers of a destroy), older than `container_age` seconds, of this plane, and the
        build cache beyond `cache_bound` bytes, added to `collected`. A stopped instance of a
        live app stays: it is waiting for its restart, and its log says why it stopped."""
        ...

    def pulled_images(self) -> list[PulledImage]:
        """The images this plane's runtime pulled for image deploys (marked `pulled_marker`)."""
        ...

    def delete_registry_tag(self, ref: str) -> None:
        """Delete the manifest `ref` points to from the cluster's registry."""
        ...

    def disk_usage(self) -> tuple[int, int, int]:
        """(images, build cache, container logs) bytes of this plane on the engine."""
        ...


class NoReclaimer:
    """A platform without an engine to collect on (unit tests' fakes): nothing to do."""

    active = False

    def app_images(self, app: str | None = None) -> list[AppImage]:
        return []

    def remove_image(self, ref: str) -> None:
        return None

    def prune(
        self,
        collected: Collected,
        *,
        dry_run: bool,
        container_age: float,
        cache_bound: int,
        apps: frozenset[str],
    ) -> None:
        return None

    def pulled_images(self) -> list[PulledImage]:
        return []

    def delete_registry_tag(self, ref: str) -> None:
        return None

    def disk_usage(self) -> tuple[int, int, int]:
        return (0, 0, 0)
