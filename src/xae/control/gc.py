"""Garbage collection: a busy app never fills the disk.

Each app keeps the images of its newest `keep_release_images` released builds, plus what is
current, in a traffic split or run by an instance, plus builds on their way to a release
(`xae.domain.gc.keep_builds`); its other images are removed from the engine and, on
Kubernetes, their manifests from the cluster's registry. A build whose image went is marked
(`Build.image_collected_at`) so a rollback to it fails saying so instead of trying to pull a
name that no longer exists. A platform pass also prunes this plane's dangling images, stopped
containers, old temporary build directories and the engine's build cache beyond its bound, and
destroys idle preview apps (`xae.control.previews`).

It runs after each successful deploy (for that app), every `gc_interval` seconds (the
`Housekeeper` thread, every app) and on demand (`xae gc`, `xae gc --app APP`). An app whose
lock is held (a deploy or rollback in progress) is skipped for this pass, never raced: the
next pass collects it. A dry run computes the same list and removes nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from xae.auth.policy import Principal
from xae.control.audit import SYSTEM, Actor, record
from xae.control.platform import Platform
from xae.domain.gc import (
    PULLED_REPOSITORY,
    AppImage,
    Collected,
    DiskUsage,
    PulledImage,
    ReleaseRow,
    keep_builds,
    pulled_key,
    pulled_removals,
)
from xae.domain.images import build_tag
from xae.domain.states import BuildStatus, InstanceState, ReleaseStatus
from xae.errors import XaeError
from xae.store.models import App, Build, Release, utcnow

log = logging.getLogger("xae.control.gc")

LOCK_WAIT = 5.0
"""Seconds a pass waits for an app's lock before skipping the app until the next pass."""

BUILD_DIR_GRACE = 300.0
"""Seconds past the build timeout after which a temporary build directory is surely unused."""


def local_ref(ref: str, registry: str | None) -> str:
    """`<registry>/xae/app-x:b1` → `xae/app-x:b1` (a pushed build is tagged both ways)."""
    if registry and ref.startswith(registry + "/"):
        return ref[len(registry) + 1 :]
    return ref


def _own_image(app: str, ref: str, registry: str | None) -> bool:
    return local_ref(ref, registry).startswith(f"xae/app-{app}:")


def _running_versions(p: Platform, app: str) -> set[int]:
    return {
        i.release
        for i in p.backend.list_instances(app)
        if i.state not in (InstanceState.EXITED, InstanceState.DEAD)
    }


@dataclass(frozen=True)
class _Removal:
    """One image of an app to remove, decided under the app's lock and removed after it."""

    refs: frozenset[str]
    """Its names on the engine (the local and the registry-qualified one)."""
    registry_tag: str | None = None
    build_id: int | None = None
    """The build it was the image of, marked collected before the lock was released."""


def collect_app(
    p: Platform,
    app_id: int,
    name: str,
    collected: Collected,
    *,
    dry_run: bool,
    images: list[AppImage] | None = None,
    in_use: set[str] | None = None,
) -> bool:
    """Collect the images of one app no release keeps; False if the app was busy (skipped).

    What goes is decided under the app's lock, and each build whose image goes is marked
    collected before the lock is released, so a rollback or split to it refuses from then on.
    The images are removed after the lock is released: removing one can take seconds on a busy
    engine, and a deploy waiting for the lock would wait for it.

    `images`: the engine's app images, when the caller listed them once for every app.
    `in_use`: gets the `pulled_key` of each image the app keeps (of every image a busy app's
    builds name), so that a platform pass removes only pulled images no app keeps."""
    if not p.reclaimer.active:
        return True
    lock = p.strategy.lock(name)
    # A reconcile pass holds the lock for a moment; a deploy or rollback for much longer.
    if not lock.acquire(timeout=LOCK_WAIT):
        if in_use is not None:
            in_use.update(pulled_key(image) for image in _build_images(p, app_id))
        return False
    try:
        if images is None:
            images = p.reclaimer.app_images(name)
        mine = [i for i in images if i.app == name]
        removals = _decide(p, app_id, name, collected, dry_run=dry_run, images=mine, in_use=in_use)
    finally:
        lock.release()
    for removal in removals:
        _remove_image(p, name, removal, collected)
    return True


def _decide(
    p: Platform,
    app_id: int,
    name: str,
    collected: Collected,
    *,
    dry_run: bool,
    images: list[AppImage],
    in_use: set[str] | None,
) -> list[_Removal]:
    registry = p.settings.registry
    running = _running_versions(p, name)
    removals: list[_Removal] = []
    with p.db.session() as session:
        app = session.get(App, app_id)
        if app is None:
            return []
        releases = list(session.scalars(select(Release).where(Release.app_id == app_id)))
        builds = list(session.scalars(select(Build).where(Build.app_id == app_id)))
        current = app.current_release.version if app.current_release else None
        kept = keep_builds(
            [
                ReleaseRow(r.version, r.build_id, r.status == ReleaseStatus.SUCCEEDED)
                for r in releases
            ],
            keep=p.settings.keep_release_images,
            current=current,
            in_split=[int(s["version"]) for s in app.split or []],
            running=running,
            builds=[b.id for b in builds],
        )
        keep_refs = {
            ref
            for b in builds
            if b.id in kept and b.image
            for ref in (b.image, local_ref(b.image, registry))
        }
        if in_use is not None:
            in_use.update(pulled_key(b.image) for b in builds if b.id in kept and b.image)
        doomed = [
            b
            for b in builds
            if b.id not in kept
            and b.image
            and b.image_collected_at is None
            and _own_image(name, b.image, registry)
            and b.image not in keep_refs
        ]
        engine = {i.ref: i.size for i in images}
        for build in doomed:
            assert build.image is not None
            refs = {build.image, local_ref(build.image, registry)}
            collected.images.append(local_ref(build.image, registry))
            collected.estimated_bytes += sum(engine.get(r, 0) for r in refs)
            pushed = bool(registry) and build.image.startswith(f"{registry}/")
            if pushed:
                collected.registry_tags.append(build.image)
            if not dry_run:
                build.image_collected_at = utcnow()
                removals.append(
                    _Removal(
                        frozenset(refs & set(engine)),
                        registry_tag=build.image if pushed else None,
                        build_id=build.id,
                    )
                )
        # Images of the app on the engine that no build row names (or whose row is gone), but
        # not a build's that exists before its row names it.
        named = {ref for b in builds if b.image for ref in (b.image, local_ref(b.image, registry))}
        # A running build's image exists before its row names it (while it is pushed, or
        # recorded): known by its tag.
        building = {
            f"xae/app-{name}:{build_tag(p.settings.plane, b.id)}"
            for b in builds
            if b.status in (BuildStatus.QUEUED, BuildStatus.RUNNING)
        }
        for ref, size in engine.items():
            if ref in named or ref in keep_refs or local_ref(ref, registry) in building:
                continue
            collected.images.append(ref)
            collected.estimated_bytes += size
            if not dry_run:
                removals.append(_Removal(frozenset({ref})))
    return removals


def _remove_image(p: Platform, app: str, removal: _Removal, collected: Collected) -> None:
    """Remove one decided image; should that fail, its build is unmarked, so a rollback to it
    works again and the next pass retries."""
    try:
        if removal.registry_tag is not None:
            p.reclaimer.delete_registry_tag(removal.registry_tag)
        for ref in sorted(removal.refs):
            p.reclaimer.remove_image(ref)
    except XaeError as e:
        collected.errors.append(f"{app}: {e.message}")
        if removal.build_id is not None:
            with p.db.session() as session:
                build = session.get(Build, removal.build_id)
                if build is not None:
                    build.image_collected_at = None


def collect(
    p: Platform,
    actor: Principal | Actor = SYSTEM,
    *,
    app: str | None = None,
    dry_run: bool = False,
    reap: Callable[[Platform, Collected, bool], None] | None = None,
) -> Collected:
    """One pass: every app's images (or only `app`'s), and for a platform pass (`app` None)
    the plane's dangling images, stopped containers, build cache and temporary build
    directories, and (`reap`) idle previews. Returns what was (or would be) removed."""
    collected = Collected()
    platform = app is None and p.reclaimer.active
    # Listed before the store is read: a pulled image's build row (and app) is older than it.
    pulled = p.reclaimer.pulled_images() if platform else []
    with p.db.session() as session:
        query = select(App.id, App.name)
        if app is not None:
            query = query.where(App.name == app)
        apps = list(session.execute(query).tuples())
    # One listing of the engine for a platform pass (it sizes every image: not once per app).
    images = p.reclaimer.app_images() if platform else None
    in_use: set[str] = set()
    skipped = [
        name
        for app_id, name in apps
        if not collect_app(
            p, app_id, name, collected, dry_run=dry_run, images=images, in_use=in_use
        )
    ]
    if platform:
        _pulled(p, pulled, in_use, collected, dry_run=dry_run)
        _orphans(p, collected, dry_run=dry_run)
        p.reclaimer.prune(
            collected,
            dry_run=dry_run,
            container_age=p.settings.gc_container_age,
            cache_bound=p.settings.build_cache_max,
            apps=frozenset(name for _, name in apps),
        )
        _build_dirs(p, {name for _, name in apps}, collected, dry_run=dry_run)
    if app is None and reap is not None:
        reap(p, collected, dry_run)
    for name in skipped:
        collected.errors.append(f"{name}: a deploy is in progress; collected at the next pass")
    if not dry_run:
        with p.db.session() as session:
            _audit(session, actor, app, collected)
    return collected


def _build_images(p: Platform, app_id: int) -> list[str]:
    """Every image the app's builds name (read without its lock: what it may keep)."""
    with p.db.session() as session:
        query = select(Build.image).where(Build.app_id == app_id)
        return [image for image in session.scalars(query) if image]


def _pulled(
    p: Platform,
    pulled: list[PulledImage],
    in_use: set[str],
    collected: Collected,
    *,
    dry_run: bool,
) -> None:
    """Images pulled for image deploys that no app keeps: their references and markers untagged
    (the engine deletes an image once no tag is left)."""
    for image, tags in pulled_removals(pulled, in_use):
        references = [t for t in tags if not t.startswith(PULLED_REPOSITORY)]
        collected.images.extend(references)
        if set(tags) == image.markers | image.tags:  # nothing is left: the image goes
            collected.estimated_bytes += image.size
        if dry_run:
            continue
        for tag in tags:
            try:
                p.reclaimer.remove_image(tag)
            except XaeError as e:  # its marker stays: the next pass tries again
                collected.errors.append(
                    f"pulled image {', '.join(references or tags)}: {e.message}"
                )
                break


def _orphans(p: Platform, collected: Collected, *, dry_run: bool) -> None:
    """Images of this plane's apps that no longer exist (their destroy was interrupted). The
    apps are read after the engine's images, so an app created during the pass (its first
    build's image already there) is not one of them."""
    images = p.reclaimer.app_images()
    with p.db.session() as session:
        apps = set(session.scalars(select(App.name)))
    for image in images:
        if image.app in apps:
            continue
        collected.images.append(image.ref)
        collected.estimated_bytes += image.size
        if not dry_run:
            try:
                p.reclaimer.remove_image(image.ref)
            except XaeError as e:
                collected.errors.append(f"{image.app}: {e.message}")


def _build_dirs(p: Platform, apps: set[str], collected: Collected, *, dry_run: bool) -> None:
    """Temporary build directories older than any build may run (a killed plane's)."""
    root = p.settings.builds_dir
    if not root.is_dir():
        return
    cutoff = time.time() - p.settings.build_timeout - BUILD_DIR_GRACE
    for app_dir in sorted(root.iterdir()):
        if not app_dir.is_dir() or app_dir.is_symlink():
            continue
        for work in sorted(app_dir.iterdir()):
            if _mtime(work) > cutoff and app_dir.name in apps:
                continue
            collected.build_dirs.append(f"{app_dir.name}/{work.name}")
            if not dry_run:
                _remove(work, collected)
        if app_dir.name not in apps and not dry_run:
            _remove(app_dir, collected)


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def _remove(path: Path, collected: Collected) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as e:
        collected.errors.append(f"build dir {path.name}: {e.strerror}")


def _audit(session: Session, actor: Principal | Actor, app: str | None, c: Collected) -> None:
    if not (c.images or c.dangling or c.containers or c.build_dirs or c.build_cache or c.previews):
        return
    record(
        session,
        actor,
        "gc",
        app or "platform",
        app=app,
        details={
            "images": len(c.images),
            "registry_tags": len(c.registry_tags),
            "dangling": c.dangling,
            "containers": len(c.containers),
            "build_dirs": len(c.build_dirs),
            "previews": c.previews,
            "errors": c.errors[:10],
        },
    )


def collect_after_deploy(p: Platform, name: str) -> None:
    """Collect the app's old images right after its deploy succeeded, in the background (the
    deploy's answer does not wait for it); a failure is only logged: the next pass retries."""

    def run() -> None:
        try:
            collected = collect(p, app=name)
        except Exception:
            log.exception("collecting the old images of %s failed", name)
            return
        if collected.images:
            log.info("%s: removed %d old image(s)", name, len(collected.images))

    threading.Thread(target=run, name=f"gc-{name}", daemon=True).start()


class Housekeeper:
    """A daemon thread: idle previews reaped every `previews_reap_interval` seconds, a full
    GC pass every `gc_interval` seconds (the first one interval after start)."""

    def __init__(self, p: Platform, reap: Callable[[Platform, Collected, bool], None]) -> None:
        self._p = p
        self._reap = reap
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="housekeeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        settings = self._p.settings
        next_gc = time.monotonic() + settings.gc_interval
        while not self._stop.wait(settings.previews_reap_interval):
            try:
                if time.monotonic() >= next_gc:
                    next_gc = time.monotonic() + settings.gc_interval
                    collect(self._p, reap=self._reap)
                else:
                    reaped = Collected()
                    self._reap(self._p, reaped, False)
            except Exception:  # the thread must outlive a broken pass
                log.exception("a housekeeping pass failed")


def disk_usage(p: Platform) -> DiskUsage:
    """Bytes of xae's images, builds (temporary build dirs plus the engine's build cache),
    container logs and git repositories (`<state_dir>/repos`, absent until git hosting made
    one) on this machine."""
    images, cache, logs = p.reclaimer.disk_usage()
    return DiskUsage(
        images=images,
        builds=tree_bytes(p.settings.builds_dir) + cache,
        logs=logs,
        repositories=tree_bytes(p.settings.state_dir / "repos"),
    )


def tree_bytes(root: Path, limit: int = 1_000_000) -> int:
    """Disk blocks used under `root` (not following links), at most `limit` entries read; 0
    when it does not exist."""
    total, seen = 0, 0
    stack = [root]
    while stack and seen < limit:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            try:
                stat = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += stat.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
    return total
