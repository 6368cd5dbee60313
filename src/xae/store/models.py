"""SQLAlchemy models of xae's desired state. Plain rows: no behaviour, no side effects."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

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
    type_annotation_map = {dict[str, Any]: JSON, dict[str, str]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    user: Mapped[User] = relationship()


class App(Base):
    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    config: Mapped[dict[str, str]] = mapped_column(default=dict)
    current_release_id: Mapped[int | None] = mapped_column(
        ForeignKey("releases.id", use_alter=True, ondelete="SET NULL"), default=None
    )
    health_path: Mapped[str | None] = mapped_column(String(256), default=None)
    health_timeout: Mapped[float | None] = mapped_column(default=None)
    health_attempts: Mapped[int | None] = mapped_column(default=None)
    drain_seconds: Mapped[float | None] = mapped_column(default=None)

    owner: Mapped[User] = relationship()
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
    config: Mapped[dict[str, str]] = mapped_column(default=dict)
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


class Event(Base):
    """The audit trail: who did what to what, when, with which result. Append-only."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128))
    result: Mapped[str] = mapped_column(String(16), default="ok")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
