"""Releases: every deploy, config change and rollback makes a new numbered, immutable release.

This is the one home of release bookkeeping: a deploy hands over a build the Code Center
finished (`release_build`), a config change (`set_config`) and a rollback (`rollback`) start
from the current release; each becomes a release here and is rolled out here.

A release becomes current only after its rollout succeeded; a failed rollout leaves the
previous release serving and the failed one recorded as `failed`.

Each change runs under the app's lock (`Platform.change`) from reading the current config to
the end of the rollout, so concurrent changes queue: each numbers its release after the last
and starts from the config the previous one left, and an answer of success means the change is
in the current release. Old failed releases are pruned, so failures cannot grow the store.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from xae.auth.policy import Principal, app_not_found
from xae.control.apps import get_app
from xae.control.audit import record
from xae.control.configvars import copy_config, open_config, seal_config
from xae.control.formation import ensure_formation
from xae.control.limits import check_config, check_config_value
from xae.control.platform import Platform
from xae.control.splits import end_for_new_release
from xae.domain.names import validate_config_key
from xae.domain.states import BuildStatus, ReleaseStatus
from xae.errors import InvalidInput, NotFound, XaeError
from xae.runtime.base import Progress
from xae.store.models import App, Build, Release


def _quiet(_: str) -> None:
    return None


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def new_release(
    session: Session,
    app: App,
    *,
    build_id: int | None,
    config_of: App | Release | None,
    description: str,
    actor: str,
) -> Release:
    """The app's next release, with a copy of `config_of`'s config vars, still sealed (None:
    the caller seals the release's config itself)."""
    version = (
        session.scalar(select(func.max(Release.version)).where(Release.app_id == app.id)) or 0
    ) + 1
    release = Release(
        app_id=app.id,
        version=version,
        build_id=build_id,
        description=description,
        status=ReleaseStatus.PENDING,
        created_by=actor,
    )
    if config_of is not None:
        copy_config(config_of, release)
    session.add(release)
    session.flush()
    return release


def get_release(session: Session, app: App, version: int) -> Release:
    release = session.scalar(
        select(Release).where(Release.app_id == app.id, Release.version == version)
    )
    if release is None:
        raise NotFound(f"{app.name} has no release v{version}: see `xae releases --app {app.name}`")
    return release


def rollout(
    p: Platform, name: str, release_id: int, actor: str, progress: Progress = _quiet
) -> None:
    """Roll `release_id` out; make it current on success, mark it failed otherwise.

    The caller holds `p.change(name)` and created the release under it."""

    def promote(session: Session, app: App) -> None:
        release = session.get(Release, release_id)
        assert release is not None
        release.status = ReleaseStatus.SUCCEEDED
        app.current_release_id = release.id
        copy_config(release, app)
        record(
            session, actor, "release.rollout", name, app=name, details={"version": release.version}
        )
        if end_for_new_release(session, app, actor, release.version):
            progress(f"the traffic split ended: v{release.version} now gets every request")

    try:
        p.converge_held(name, progress, release_id=release_id, on_success=promote)
    except Exception as e:
        # Whatever stopped it (a failed health gate, a lost engine, a bug), the release never
        # became current: record that now rather than leave it `pending` until a restart.
        reason = e.message if isinstance(e, XaeError) else f"unexpected {type(e).__name__}"
        with p.db.session() as session:
            release = session.get(Release, release_id)
            if release is not None:
                release.status = ReleaseStatus.FAILED
                release.failure_reason = reason.split("\n", 1)[0][:200]
                record(
                    session,
                    actor,
                    "release.rollout",
                    name,
                    app=name,
                    result="failed",
                    details={"version": release.version, "error": reason[:500]},
                )
                prune_failed(session, release.app_id, p.limits.keep_failed_releases)
        raise


def prune_failed(session: Session, app_id: int, keep: int) -> int:
    """Delete the app's failed releases beyond the newest `keep`; returns how many.

    Each keeps a copy of the config, so without a bound a tenant whose deploys keep failing
    grows the store without limit. Succeeded releases (rollback targets) stay."""
    stale = list(
        session.scalars(
            select(Release.id)
            .where(Release.app_id == app_id, Release.status == ReleaseStatus.FAILED)
            .order_by(Release.version.desc())
            .offset(keep)
        )
    )
    if stale:
        session.execute(delete(Release).where(Release.id.in_(stale)))
    return len(stale)


def release_build(
    p: Platform,
    actor: str,
    name: str,
    build_id: int,
    description: str,
    progress: Progress = _quiet,
) -> int:
    """Make the succeeded build `build_id` app `name`'s next release and roll it out; returns
    the release's version.

    The build ran (and was recorded as succeeded) outside the app's lock; from here on the lock
    is held, so the release carries the config the previous change left. New process types get
    their formation rows. Progress reports `releasing vN`, then the rollout's own steps."""
    with p.change(name):
        with p.db.session() as session:
            app = get_app(session, name)
            build = session.get(Build, build_id)
            if build is None or build.app_id != app.id:
                # Destroying the app removed its builds while this one ran: the app is gone.
                raise app_not_found(name)
            if build.status != BuildStatus.SUCCEEDED:
                raise InvalidInput(f"build {build_id} of {name} did not succeed: deploy again")
            ensure_formation(session, app, build.processes)
            release = new_release(
                session,
                app,
                build_id=build.id,
                config_of=app,
                description=description,
                actor=actor,
            )
            release_id, version = release.id, release.version
        progress(f"releasing v{version}")
        rollout(p, name, release_id, actor, progress=progress)
    return version


def set_config(
    p: Platform,
    user: Principal,
    name: str,
    changes: dict[str, str | None],
    *,
    app_id: int | None = None,
) -> int:
    """Apply config changes as a new release and roll it out; returns its version."""
    if not changes:
        raise InvalidInput("no config changes given: use `xae config:set KEY=VALUE`")
    for key, value in changes.items():
        validate_config_key(key)
        if value is not None:
            check_config_value(key, value)
    with p.change(name):
        with p.db.session() as session:
            app = get_app(session, name, app_id)
            config = open_config(p.vault, app)
            for key, value in changes.items():
                if value is None:
                    config.pop(key, None)
                else:
                    config[key] = value
            check_config(p.limits, name, config)
            current = app.current_release
            set_keys = sorted(k for k, v in changes.items() if v is not None)
            unset_keys = sorted(k for k, v in changes.items() if v is None)
            parts = ([f"set {', '.join(set_keys)}"] if set_keys else []) + (
                [f"unset {', '.join(unset_keys)}"] if unset_keys else []
            )
            release = new_release(
                session,
                app,
                build_id=current.build_id if current else None,
                config_of=None,
                description=_sentence("; ".join(parts))[:256],
                actor=user.name,
            )
            seal_config(p.vault, release, config)
            release_id, version = release.id, release.version
            record(
                session,
                user,
                "config.change",
                name,
                app=name,
                details={"set": set_keys, "unset": unset_keys, "version": version},
            )
        rollout(p, name, release_id, user.name)
    return version


def rollback(
    p: Platform, user: Principal, name: str, version: int | None, *, app_id: int | None = None
) -> tuple[int, int]:
    """Roll back to `version` (default: the release before the current one) as a new release.

    Returns (target version, new version).
    """
    with p.change(name):
        with p.db.session() as session:
            app = get_app(session, name, app_id)
            current = app.current_release
            if current is None:
                raise InvalidInput(f"{name} has no release to roll back from: deploy it first")
            if version is None:
                target = session.scalar(
                    select(Release)
                    .where(
                        Release.app_id == app.id,
                        Release.version < current.version,
                        Release.status == ReleaseStatus.SUCCEEDED,
                    )
                    .order_by(Release.version.desc())
                )
                if target is None:
                    raise InvalidInput(f"{name} has no earlier successful release to roll back to")
            else:
                target = get_release(session, app, version)
            if target.build_id is None and current.build_id is not None:
                raise InvalidInput(f"v{target.version} has no build (it predates the first deploy)")
            release = new_release(
                session,
                app,
                build_id=target.build_id,
                config_of=target,
                description=f"Rollback to v{target.version}",
                actor=user.name,
            )
            release_id, new_version, target_version = release.id, release.version, target.version
        rollout(p, name, release_id, user.name)
    return target_version, new_version
