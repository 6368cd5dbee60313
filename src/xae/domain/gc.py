"""Garbage collection, decided: which builds' images an app keeps, and what a pass reports.

Every deploy leaves an image behind; without a bound a busy app fills the disk. An app keeps the
images of its newest `keep` released builds (rollback targets), plus any build that is current,
in a live traffic split or still run by an instance, plus any build newer than the newest
released one (a deploy between its build and its release must never lose its image). Everything
else of the app's images is collectable.

Pure: the control plane reads the store and the backend, this module decides, a `Reclaimer`
(the engine's side: `xae.builder.reclaim`) removes. It must never decide from anything a
tenant shaped (labels of the app's own image, its tags): only from the store's rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol


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

    def delete_registry_tag(self, ref: str) -> None:
        return None

    def disk_usage(self) -> tuple[int, int, int]:
        return (0, 0, 0)
