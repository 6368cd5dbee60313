"""SQLAlchemy models of xae's desired state. Plain rows: no behaviour, no side effects."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from xae.domain.access import Role, Scope
from xae.domain.states import BuildStatus, ReleaseStatus


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _status(enum: type[StrEnum]) -> Enum:
    """A `String(16)` column as before (same values, no constraint, no migration), read and
    written as `enum`'s members."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, dict[str, str]: JSON, list[str]: JSON}


class User(Base):
    """Someone who logs in: by e-mail address (or, for users made before teams, a plain name)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    is_admin: Mapped[bool] = mapped_column(default=False)
    """A platform admin: every team's owner, and the only one who manages users."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Team(Base):
    """Who owns apps together. Every app belongs to exactly one team."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(Base):
    """A user's role in a team."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(_status(Role))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team] = relationship()
    user: Mapped[User] = relationship()


class Token(Base):
    """A bearer token: named, scoped, expiring, optionally limited to one app. Only its SHA-256
    is stored."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64), default="login")
    scope: Mapped[Scope] = mapped_column(_status(Scope), default=Scope.ADMIN)
    app_id: Mapped[int | None] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), default=None
    )
    """The one app a deploy token may act on; None: every app the user may."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship()


class App(Base):
    __tablename__ = "apps"
    # Ids are never reused: a change authorized for an app checks it is still that app.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    config_sealed: Mapped[str] = mapped_column(Text, default="", server_default="")
    """The config vars, sealed (`xae.store.sealed`); "" when there are none."""
    config_keys: Mapped[list[str]] = mapped_column(default=list, server_default="[]")
    """Their names, sorted, in clear: listing names needs no key."""
    current_release_id: Mapped[int | None] = mapped_column(
        ForeignKey("releases.id", use_alter=True, ondelete="SET NULL"), default=None
    )
    health_path: Mapped[str | None] = mapped_column(String(256), default=None)
    health_timeout: Mapped[float | None] = mapped_column(default=None)
    health_attempts: Mapped[int | None] = mapped_column(default=None)
    drain_seconds: Mapped[float | None] = mapped_column(default=None)
    redirect_https: Mapped[bool] = mapped_column(default=False)
    """The router answers plain HTTP with a redirect to HTTPS."""
    max_body: Mapped[int | None] = mapped_column(default=None)
    """The largest request body in bytes; None: the router's default."""
    read_timeout: Mapped[int | None] = mapped_column(default=None)
    """Seconds the router waits for the app's response; None: the router's default."""
    scale_from_zero: Mapped[bool] = mapped_column(default=False)
    """With no ready web instance, the router holds requests and asks xae to wake the app."""
    split: Mapped[list[dict[str, int]] | None] = mapped_column(JSON, default=None)
    """A weighted traffic split, `[{"version": 7, "weight": 90}, ...]` in the user's order;
    None: all traffic goes to the current release (`xae.control.splits`)."""
    split_sticky: Mapped[bool] = mapped_column(default=False)
    """Keep each client on the release it was first sent to (a cookie)."""
    dockerfile: Mapped[str | None] = mapped_column(String(256), default=None)
    """The Dockerfile to build with, relative to the source's top (`xae.domain.buildfiles`);
    None: detection decides (a top-level Dockerfile, else a stack)."""

    deploy_branch: Mapped[str] = mapped_column(String(255), default="main", server_default="main")
    """The branch whose `git push` builds and rolls out (`xae.codecenter.push`)."""

    previews_idle: Mapped[int | None] = mapped_column(default=None)
    """Preview apps are on (`xae previews:on`): each is destroyed after this many seconds
    without a push. None: previews are off."""

    team: Mapped[Team] = relationship()
    current_release: Mapped[Release | None] = relationship(foreign_keys=[current_release_id])


class Build(Base):
    __tablename__ = "builds"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    status: Mapped[BuildStatus] = mapped_column(_status(BuildStatus), default=BuildStatus.RUNNING)
    stack: Mapped[str | None] = mapped_column(String(32), default=None)
    image: Mapped[str | None] = mapped_column(String(256), default=None)
    processes: Mapped[dict[str, str]] = mapped_column(default=dict)
    port: Mapped[int | None] = mapped_column(default=None)
    log: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    run_as: Mapped[str | None] = mapped_column(String(32), default=None)
    """Who the image runs as (`xae.domain.runas`); None: the app user (image deploys, older
    builds)."""
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """The app's validated manifest (`xae.domain.manifest.Manifest`, as JSON); None: none."""

    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the deploy asked for the build (None: builds made before the build queue)."""
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    """When it left the queue and started building (None: still queued, or never ran)."""
    source_kind: Mapped[str | None] = mapped_column(String(16), default=None)
    """Where the source came from (`xae.domain.builds.SourceKind`): upload, git, image."""
    commit_sha: Mapped[str | None] = mapped_column(String(64), default=None)
    commit_message: Mapped[str | None] = mapped_column(String(256), default=None)
    """The first line of the commit's message (git pushes)."""
    branch: Mapped[str | None] = mapped_column(String(256), default=None)
    started_by: Mapped[str | None] = mapped_column(String(254), default=None)
    """Who started the deploy (a user name)."""

    image_collected_at: Mapped[datetime | None] = mapped_column(default=None)
    """When garbage collection removed the build's image (`xae.control.gc`): its releases can
    no longer be rolled back to. None: the image is kept."""
    env_defaults_sealed: Mapped[str] = mapped_column(Text, default="", server_default="")
    """The manifest's `env` default values, sealed like config vars (`xae.store.sealed`; ""
    for none): `manifest` keeps each key without its value (`xae.control.manifests`)."""


class Release(Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("app_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    build_id: Mapped[int | None] = mapped_column(ForeignKey("builds.id"), default=None)
    config_sealed: Mapped[str] = mapped_column(Text, default="", server_default="")
    """The release's copy of the config vars, sealed like `App.config_sealed`."""
    config_keys: Mapped[list[str]] = mapped_column(default=list, server_default="[]")
    description: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[ReleaseStatus] = mapped_column(
        _status(ReleaseStatus), default=ReleaseStatus.PENDING
    )
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    failure_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    """Why a `failed` release failed, when xae knows (e.g. its rollout was interrupted)."""

    build: Mapped[Build | None] = relationship()


class Formation(Base):
    __tablename__ = "formations"
    __table_args__ = (UniqueConstraint("app_id", "process_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    process_type: Mapped[str] = mapped_column(String(30))
    quantity: Mapped[int] = mapped_column(default=0)
    memory_bytes: Mapped[int | None] = mapped_column(default=None)
    cpus: Mapped[float | None] = mapped_column(default=None)
    restart_generation: Mapped[int] = mapped_column(default=0)
    read_only: Mapped[bool] = mapped_column(default=False)
    """The instances' root filesystem is read-only (only /tmp, a tmpfs, stays writable)."""


class Event(Base):
    """The audit trail: who did what to what, when, with which result. Append-only."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(254))
    """The user's name (or `system`, `xae-admin`)."""
    token_name: Mapped[str | None] = mapped_column(String(64), default=None)
    source: Mapped[str | None] = mapped_column(String(64), default=None)
    """The client's address, for changes made through the API."""
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(254))
    app: Mapped[str | None] = mapped_column(String(30), default=None, index=True)
    team_id: Mapped[int | None] = mapped_column(default=None, index=True)
    """The team whose owners may read the event (no foreign key: the trail outlives teams)."""
    result: Mapped[str] = mapped_column(String(16), default="ok")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Certificate(Base):
    """A TLS certificate an app uploaded (`xae.domain.certs` checked it), with its key sealed
    like config vars (`xae.store.sealed`): the router gets it opened, nobody reads it back."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(254))
    """The leaf's first name, to show."""
    hosts: Mapped[list[str]] = mapped_column(default=list)
    """Every name the leaf covers (SANs, wildcards included), lowercase, sorted."""
    issuer: Mapped[str] = mapped_column(String(254), default="")
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the leaf (DER), hex."""
    not_before: Mapped[datetime]
    not_after: Mapped[datetime]
    chain_pem: Mapped[str] = mapped_column(Text)
    key_sealed: Mapped[str] = mapped_column(Text)
    """The private key (PKCS#8 PEM), sealed as `{"key": pem}`."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254), default="")
    source: Mapped[str] = mapped_column(String(16), default="upload")
    """`upload` (a user's), or `acme` (issued by the ACME CA, renewed by xae)."""


class Domain(Base):
    """A custom domain of an app (`xae.domain.names.validate_domain`'s canonical form): one
    app per name across all teams, which the unique constraint enforces."""

    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    hostname: Mapped[str] = mapped_column(String(253), unique=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254), default="")


class CronJob(Base):
    """A command an app runs on a schedule (`xae.control.cron`), in a one-off container of
    its current release."""

    __tablename__ = "cron_jobs"
    __table_args__ = (UniqueConstraint("app_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(30))
    schedule: Mapped[str] = mapped_column(String(100))
    """5-field cron syntax or a macro (`xae.domain.cron.parse_schedule` checked it)."""
    zone: Mapped[str] = mapped_column(String(64), default="UTC")
    command: Mapped[str] = mapped_column(Text)
    overlap: Mapped[str] = mapped_column(String(8), default="skip")
    """`skip` (a run due while one runs is skipped) or `allow`."""
    timeout: Mapped[float | None] = mapped_column(default=None)
    """Seconds a run may take; None: `XAE_ONEOFF_TIMEOUT`."""
    source: Mapped[str] = mapped_column(String(16), default="cli")
    """`cli` (made with `cron:add`) or `manifest` (from the app's xae.yaml / app.json)."""
    next_run_at: Mapped[datetime] = mapped_column(index=True)
    """When it is due next (UTC, naive as every time in the store)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254), default="")


class CronRun(Base):
    """One run of a cron job (or one it skipped), with its output's tail."""

    __tablename__ = "cron_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("cron_jobs.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    release: Mapped[int | None] = mapped_column(default=None)
    """The version it ran in (the app's current release then)."""
    status: Mapped[str] = mapped_column(String(16), default="running")
    """`running`, `succeeded`, `failed`, `timed_out`, `skipped` or `interrupted`."""
    trigger: Mapped[str] = mapped_column(String(16), default="schedule")
    """`schedule`, or `manual` (`xae cron:run`)."""
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    exit_code: Mapped[int | None] = mapped_column(default=None)
    reason: Mapped[str | None] = mapped_column(String(500), default=None)
    output: Mapped[str] = mapped_column(Text, default="")
    backend_ref: Mapped[str | None] = mapped_column(String(80), default=None, index=True)
    """On kubernetes, the name of the Job that ran it (the watcher's key); None on docker."""


class Hook(Base):
    """A deploy notification (webhook): build and deploy events of one app are POSTed to `url`,
    signed with a secret sealed like config vars (`xae.store.sealed`), shown once at creation."""

    __tablename__ = "hooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(default=list)
    secret_sealed: Mapped[str] = mapped_column(Text)
    """The signing secret, sealed as `{"secret": value}`."""
    created_by: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HookDelivery(Base):
    """One attempt to deliver one event to one hook (the delivery log)."""

    __tablename__ = "hook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    hook_id: Mapped[int] = mapped_column(ForeignKey("hooks.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    delivery: Mapped[str] = mapped_column(String(64))
    """The event's id (`X-Xae-Delivery`): every attempt of one event carries the same."""
    event: Mapped[str] = mapped_column(String(32))
    """`build.succeeded`, `deploy.failed`, ..."""
    attempt: Mapped[int] = mapped_column(default=1)
    status_code: Mapped[int | None] = mapped_column(default=None)
    ok: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(String(500), default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Preview(Base):
    """A preview app (`APP--BRANCH`) made for a branch of its parent app
    (`xae.control.previews`)."""

    __tablename__ = "previews"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("apps.id", ondelete="SET NULL"), index=True
    )
    """The app it previews; None once that app was destroyed (the reaper destroys the preview)."""
    branch: Mapped[str] = mapped_column(String(255))
    """The branch as pushed (the preview's name is derived from it)."""
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_push_at: Mapped[datetime] = mapped_column(default=utcnow)
    """The last push of the branch (or the preview's creation): idle time counts from here."""


class HookOutbox(Base):
    """A deploy notification not yet delivered to one hook: what its next attempt needs, so a
    restarted control plane resumes it (`xae.codecenter.notify`). Deleted once it is
    delivered or given up."""

    __tablename__ = "hook_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    hook_id: Mapped[int] = mapped_column(ForeignKey("hooks.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    delivery: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    """The signed JSON body, exactly as sent (no config values: `DeployPipeline._notify`)."""
    attempt: Mapped[int] = mapped_column(default=1)
    """The number of the next attempt."""
    due_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
