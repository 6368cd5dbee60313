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

import logging
from collections.abc import Callable

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from xae.auth.policy import Principal, app_not_found
from xae.control.apps import get_app
from xae.control.audit import record
from xae.control.configvars import copy_config, open_config, seal_config
from xae.control.cron import JobSpec, check_job, set_manifest_jobs
from xae.control.formation import ensure_formation
from xae.control.limits import check_config, check_config_value
from xae.control.manifests import (
    apply_env,
    apply_first_formation,
    manifest_cron_jobs,
    manifest_postdeploy,
    stored_manifest,
)
from xae.control.oneoff import run_in_release
from xae.control.platform import Platform
from xae.control.releasephase import run_release_phase
from xae.control.splits import end_for_new_release
from xae.domain.names import validate_config_key
from xae.domain.procfile import RELEASE_PHASE
from xae.domain.states import BuildStatus, ReleaseStatus
from xae.errors import ImageCollected, InvalidInput, NotFound, XaeError
from xae.runtime.base import Progress
from xae.store.models import App, Build, Release

log = logging.getLogger("xae.control.releases")


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
    p: Platform,
    name: str,
    release_id: int,
    actor: str,
    progress: Progress = _quiet,
    *,
    drain: bool = True,
) -> None:
    """Roll `release_id` out; make it current on success, mark it failed otherwise.

    The caller holds `p.change(name)` and created the release under it. `drain=False` makes
    it current as soon as its instances serve, leaving the replaced ones (out of the route) to
    the caller's next pass (`_retire_replaced`)."""

    def promote(session: Session, app: App) -> None:
        release = session.get(Release, release_id)
        assert release is not None
        release.status = ReleaseStatus.SUCCEEDED
        app.current_release_id = release.id
        copy_config(release, app)
        record(
            session, actor, "release.rollout", name, app=name, details={"version": release.version}
        )
        _apply_cron(p, session, app, release)
        if end_for_new_release(session, app, actor, release.version):
            progress(f"the traffic split ended: v{release.version} now gets every request")

    try:
        p.converge_held(name, progress, release_id=release_id, on_success=promote, drain=drain)
    except Exception as e:
        # Whatever stopped it (a failed health gate, a lost engine, a bug), the release never
        # became current: record that now rather than leave it `pending` until a restart.
        _record_failure(p, name, release_id, actor, e, "release.rollout")
        raise


def _record_failure(
    p: Platform, name: str, release_id: int, actor: str, error: Exception, action: str
) -> None:
    """Mark the release failed, with the error's first line as its reason, and audit it."""
    reason = error.message if isinstance(error, XaeError) else f"unexpected {type(error).__name__}"
    with p.db.session() as session:
        release = session.get(Release, release_id)
        if release is not None:
            release.status = ReleaseStatus.FAILED
            release.failure_reason = reason.split("\n", 1)[0][:200]
            record(
                session,
                actor,
                action,
                name,
                app=name,
                result="failed",
                details={"version": release.version, "error": reason[:500]},
            )
            prune_failed(session, release.app_id, p.limits.keep_failed_releases)


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
    output: Callable[[str], None] | None = None,
    on_serving: Callable[[int], None] | None = None,
) -> int:
    """Make the succeeded build `build_id` app `name`'s next release and roll it out; returns
    the release's version.

    The build ran (and was recorded as succeeded) outside the app's lock; from here on the lock
    is held, so the release carries the config the previous change left. New process types get
    their formation rows. The build's manifest adds config defaults (refusing the deploy,
    MissingConfig, while a required key is not set) and, on the first deploy, its formation
    (`xae.control.manifests`). Progress reports `releasing vN`, then the rollout's own steps.

    A `release:` command (the Procfile's, or the manifest's `release`) runs first, once, in a
    one-off container of the new release (`xae.control.releasephase`), its lines going to
    `output` (default: to `progress`); if it fails the release is recorded failed and nothing
    is rolled out.

    `on_serving(version)`, when given, is called once the release is current and its
    instances serve (health gate passed, routed), before the instances it replaced are
    drained: a `git push` answers then, instead of after the old instances' grace period and
    stop (~0.5-1 s here). The drain still happens before this returns, under the app's lock,
    so the app's next change starts after it, as before."""

    with p.change(name):
        with p.db.session() as session:
            app = get_app(session, name)
            build = session.get(Build, build_id)
            if build is None or build.app_id != app.id:
                # Destroying the app removed its builds while this one ran: the app is gone.
                raise app_not_found(name)
            if build.status != BuildStatus.SUCCEEDED:
                raise InvalidInput(f"build {build_id} of {name} did not succeed: deploy again")
            manifest = stored_manifest(build, p.vault)
            config = open_config(p.vault, app) if manifest else {}
            # Before anything changes: a required key the app lacks refuses the deploy here.
            defaults = apply_env(manifest, config, name) if manifest else []
            # The first deploy of code: a config release made before it (v1 of `config:set`)
            # has no build.
            current = app.current_release
            first_deploy = current is None or current.build_id is None
            ensure_formation(session, app, build.processes)
            scaled: list[str] = []
            if manifest is not None and first_deploy:
                session.flush()
                scaled = apply_first_formation(session, p.limits, app, manifest, build.processes)
            release = new_release(
                session,
                app,
                build_id=build.id,
                config_of=None if defaults else app,
                description=description,
                actor=actor,
            )
            if defaults:
                check_config(p.limits, name, config)
                seal_config(p.vault, release, config)
            release_id, version = release.id, release.version
            release_command = build.processes.get(RELEASE_PHASE)
            # Checked before anything runs: the jobs are applied when the release becomes current.
            cron_jobs = _cron_jobs(build)
            postdeploy = manifest_postdeploy(build) if first_deploy else None
        if defaults:
            progress(f"config defaults from the manifest: {', '.join(defaults)}")
        if scaled:
            progress(f"first deploy: formation of {', '.join(scaled)} from the manifest")
        progress(f"releasing v{version}")
        if release_command:
            try:
                run_release_phase(
                    p, name, release_id, version, release_command, progress, output or progress
                )
            except Exception as e:
                _record_failure(p, name, release_id, actor, e, "release.phase")
                raise
        rollout(p, name, release_id, actor, progress=progress, drain=on_serving is None)
        if cron_jobs:
            progress(f"cron jobs from the manifest: {', '.join(job.name for job in cron_jobs)}")
        if postdeploy:
            _run_postdeploy(p, name, release_id, version, postdeploy, progress, output or progress)
        if on_serving is not None:
            try:
                on_serving(version)
            finally:
                _retire_replaced(p, name)
    return version


def _retire_replaced(p: Platform, name: str) -> None:
    """Drain the instances a rollout with `drain=False` replaced: one more pass, under the
    lock the caller holds. The new release is current and serves already (and was said to
    be): a failure here is logged, not the deploy's, and the reconciler's next pass drains
    what is left."""
    try:
        p.converge_held(name)
    except Exception:
        log.exception("draining the instances %s's new release replaced failed", name)


def _cron_jobs(build: Build) -> list[JobSpec]:
    """The cron jobs `build`'s manifest declares, checked (InvalidInput naming the job)."""
    jobs = [
        JobSpec(name=e.name, schedule=e.schedule, command=e.command, zone=e.zone, overlap=e.overlap)
        for e in manifest_cron_jobs(build)
    ]
    for job in jobs:
        check_job(job)
    return jobs


def _apply_cron(p: Platform, session: Session, app: App, release: Release) -> None:
    """Make the app's manifest cron jobs those of `release`'s build (none without one): they
    follow whatever becomes current, a deploy, a config release or a rollback."""
    build = session.get(Build, release.build_id) if release.build_id is not None else None
    jobs = _cron_jobs(build) if build is not None else []
    set_manifest_jobs(session, app, jobs, limit=p.settings.cron_jobs_per_app)


def _run_postdeploy(
    p: Platform,
    name: str,
    release_id: int,
    version: int,
    command: str,
    progress: Progress,
    output: Callable[[str], None],
) -> None:
    """Run the manifest's `postdeploy` once after the app's first deploy (Heroku's
    `scripts.postdeploy`). The release serves already: a failure is reported, not rolled back."""
    progress(f"running the manifest's postdeploy command in v{version}")
    try:
        code = run_in_release(
            p, name, release_id, command, "postdeploy", f"postdeploy-v{version}", output
        )
    except XaeError as e:
        progress(f"the postdeploy command did not finish: {e.message}; v{version} serves")
        return
    if code != 0:
        progress(
            f"the postdeploy command failed with exit code {code}; v{version} serves anyway "
            f"(run it again by hand)"
        )


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
            if target.build is not None and target.build.image_collected_at is not None:
                raise ImageCollected(
                    f"the image of v{target.version} was garbage-collected (xae keeps the "
                    f"images of the last {p.settings.keep_release_images} releases): redeploy "
                    f"that code with `xae deploy`, or roll back to a newer release "
                    f"(`xae releases --app {name}`)"
                )
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
