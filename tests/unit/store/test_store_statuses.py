"""Build and release statuses are stored as the same words as before (no migration: a database
written by an older xae reads the same) and come back as their enum members."""

from __future__ import annotations

from sqlalchemy import select, text
from tests.unit.fakes import World

from xae.control.apps import create_app, get_app
from xae.domain.states import BuildStatus, ReleaseStatus
from xae.store.models import Build, Release


def test_statuses_are_written_as_their_words_and_read_back_as_members(world: World) -> None:
    create_app(world.platform, world.user("alice"), "shop")
    with world.db.session() as session:
        app = get_app(session, "shop")
        session.add(Build(app_id=app.id, status=BuildStatus.FAILED))
        session.add(Release(app_id=app.id, version=1))  # the default: pending
    with world.db.session() as session:
        raw = session.execute(text("SELECT b.status, r.status FROM builds b, releases r")).one()
        assert tuple(raw) == ("failed", "pending")
        build = session.scalars(select(Build)).one()
        release = session.scalars(select(Release)).one()
        assert build.status is BuildStatus.FAILED
        assert release.status is ReleaseStatus.PENDING


def test_rows_an_older_xae_wrote_read_as_members(world: World) -> None:
    create_app(world.platform, world.user("alice"), "shop")
    with world.db.session() as session:
        app_id = get_app(session, "shop").id
        session.execute(
            text(
                "INSERT INTO releases (app_id, version, config_keys, description, status, "
                "created_by, created_at) VALUES (:a, 1, '{}', '', 'succeeded', 'x', "
                "'2026-01-01 00:00:00')"
            ),
            {"a": app_id},
        )
    with world.db.session() as session:
        release = session.scalars(select(Release)).one()
        assert release.status is ReleaseStatus.SUCCEEDED
        assert (
            session.scalars(select(Release).where(Release.status == ReleaseStatus.SUCCEEDED)).one()
            is release
        )
