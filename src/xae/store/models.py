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
