"""Preview apps: made per branch in the parent's team with its config, found again on the next
push, refused on a name collision, removed with their branch, reaped when idle."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.unit.fakes import World, deploy

from xae.auth.policy import Principal
from xae.control.apps import create_app, destroy_app, get_app
from xae.control.configvars import open_config
from xae.control.previews import (
    list_previews,
    preview_for_branch,
    reap_idle,
    remove_preview,
    set_previews,
)
from xae.control.releases import set_config
from xae.domain.access import Scope
from xae.domain.gc import Collected
from xae.errors import InvalidInput, InvalidName, PreviewConflict, PreviewNotAllowed
from xae.store.models import App, Preview, utcnow


@pytest.fixture
def on(world: World, shop: str, alice: Principal) -> str:
    deploy(world.platform, shop, "img:1")
    set_config(world.platform, alice, shop, {"GREETING": "hello"})
    set_previews(world.platform, alice, shop, enabled=True, idle_seconds=3600)
    return shop


def test_a_branch_gets_a_preview_app_of_the_same_team_with_the_parents_config(
    world: World, on: str, alice: Principal
) -> None:
    name = preview_for_branch(world.platform, alice, on, "Feature/Login_Page!")
    assert name == "shop--feature-login-page"
    with world.db.session() as session:
        parent, preview = get_app(session, on), get_app(session, name)
        assert preview.team_id == parent.team_id
        assert open_config(world.platform.vault, preview) == {"GREETING": "hello"}
    info = list_previews(world.platform, on)
    assert info.enabled and info.idle_seconds == 3600
    assert [(p.branch, p.app) for p in info.previews] == [("Feature/Login_Page!", name)]
    assert info.previews[0].url.startswith(f"http://{name}.localhost")


def test_the_next_push_of_the_branch_finds_the_preview_and_records_the_push(
    world: World, on: str, alice: Principal
) -> None:
    first = preview_for_branch(world.platform, alice, on, "feature-x")
    with world.db.session() as session:
        row = session.scalars(select(Preview)).one()
        row.last_push_at = utcnow() - timedelta(hours=2)
    assert preview_for_branch(world.platform, alice, on, "feature-x") == first
    with world.db.session() as session:
        row = session.scalars(select(Preview)).one()
        assert utcnow() - row.last_push_at < timedelta(minutes=1)
        assert len(list(session.scalars(select(App)))) == 2


def test_two_branches_mapping_to_one_name_are_refused_clearly(
    world: World, on: str, alice: Principal
) -> None:
    preview_for_branch(world.platform, alice, on, "feature/a")
    with pytest.raises(PreviewConflict) as caught:
        preview_for_branch(world.platform, alice, on, "Feature_A")
    assert "both map to the preview app shop--feature-a" in caught.value.message


def test_previews_are_refused_while_off_and_for_previews(
    world: World, shop: str, alice: Principal
) -> None:
    with pytest.raises(InvalidInput, match="previews are off for shop"):
        preview_for_branch(world.platform, alice, shop, "x")
    set_previews(world.platform, alice, shop, enabled=True)
    name = preview_for_branch(world.platform, alice, shop, "x")
    with pytest.raises(InvalidInput, match="is a preview app"):
        set_previews(world.platform, alice, name, enabled=True)


def test_users_cannot_take_a_preview_name_for_an_app(world: World, alice: Principal) -> None:
    with pytest.raises(InvalidName, match="preview apps"):
        create_app(world.platform, alice, "shop--feature-x")


def test_removing_the_branch_destroys_its_preview(world: World, on: str, alice: Principal) -> None:
    name = preview_for_branch(world.platform, alice, on, "feature-x")
    assert remove_preview(world.platform, alice, on, "feature-x") == name
    assert remove_preview(world.platform, alice, on, "feature-x") is None
    assert list_previews(world.platform, on).previews == []
    with world.db.session() as session:
        assert session.scalar(select(App).where(App.name == name)) is None


def test_the_reaper_destroys_idle_previews_but_not_fresh_ones(
    world: World, on: str, alice: Principal
) -> None:
    idle = preview_for_branch(world.platform, alice, on, "old")
    fresh = preview_for_branch(world.platform, alice, on, "new")
    with world.db.session() as session:
        app = get_app(session, idle)
        row = session.scalars(select(Preview).where(Preview.app_id == app.id)).one()
        row.last_push_at = utcnow() - timedelta(hours=2)
    dry = Collected()
    reap_idle(world.platform, dry, True)
    assert dry.previews == [idle]
    assert len(list_previews(world.platform, on).previews) == 2
    reaped = Collected()
    reap_idle(world.platform, reaped, False)
    assert reaped.previews == [idle]
    assert [p.app for p in list_previews(world.platform, on).previews] == [fresh]


def test_turning_previews_off_lets_the_reaper_destroy_them(
    world: World, on: str, alice: Principal
) -> None:
    preview_for_branch(world.platform, alice, on, "x")
    set_previews(world.platform, alice, on, enabled=False)
    reaped = Collected()
    reap_idle(world.platform, reaped, False)
    assert reaped.previews == ["shop--x"]


def test_previews_of_a_destroyed_app_are_destroyed_by_the_reaper(
    world: World, on: str, alice: Principal
) -> None:
    name = preview_for_branch(world.platform, alice, on, "x")
    destroy_app(world.platform, alice, on, on)
    reaped = Collected()
    reap_idle(world.platform, reaped, False)
    assert reaped.previews == [name]
    with world.db.session() as session:
        assert session.scalar(select(App).where(App.name == name)) is None
        assert session.scalar(select(Preview)) is None


def test_an_app_has_at_most_the_allowed_number_of_previews(
    world: World, on: str, alice: Principal
) -> None:
    world.platform.settings.max_previews_per_app = 2
    preview_for_branch(world.platform, alice, on, "a")
    preview_for_branch(world.platform, alice, on, "b")
    with pytest.raises(InvalidInput, match="has 2 preview apps, the most allowed"):
        preview_for_branch(world.platform, alice, on, "c")
    assert preview_for_branch(world.platform, alice, on, "a") == "shop--a"  # a push of one


def ci_token(world: World, alice: Principal, app: str) -> Principal:
    """alice through a deploy token limited to `app` (what CI pushes with)."""
    with world.db.session() as session:
        app_id = get_app(session, app).id
    return replace(alice, scope=Scope.DEPLOY, token_name="ci", app_id=app_id)


def test_an_app_limited_token_never_creates_a_preview_app_but_updates_and_removes_one(
    world: World, on: str, alice: Principal
) -> None:
    ci = ci_token(world, alice, on)
    with pytest.raises(PreviewNotAllowed) as caught:
        preview_for_branch(world.platform, ci, on, "feature-x")
    message = caught.value.message
    assert "no preview app shop--feature-x was made" in message
    assert "token 'ci' is limited to one app" in message and "xae login" in message
    assert caught.value.status == 403
    with world.db.session() as session:
        assert [a.name for a in session.scalars(select(App))] == [on]
        assert session.scalars(select(Preview)).all() == []

    # Made once by a developer, the preview is the token's to update and remove.
    made = preview_for_branch(world.platform, alice, on, "feature-x")
    assert preview_for_branch(world.platform, ci, on, "feature-x") == made
    assert remove_preview(world.platform, ci, on, "feature-x") == made
    assert list_previews(world.platform, on).previews == []


def test_a_deploy_scoped_token_does_not_create_preview_apps_either(
    world: World, on: str, alice: Principal
) -> None:
    deployer = replace(alice, scope=Scope.DEPLOY, token_name="deployer")
    with pytest.raises(PreviewNotAllowed, match="token 'deployer' has scope deploy"):
        preview_for_branch(world.platform, deployer, on, "feature-y")
    assert list_previews(world.platform, on).previews == []
