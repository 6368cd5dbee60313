"""`xae.auth.policy`: the one place that decides, applied to every role, scope and limit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from xae.auth.policy import (
    Principal,
    allows_app,
    app_creation_refusal,
    app_not_found,
    audit_teams,
    authorize_app,
    authorize_team,
    check,
)
from xae.domain.access import (
    APP_TOKEN_ACTIONS,
    MINIMUM_ROLE,
    ROLE_ACTIONS,
    Action,
    Role,
    Scope,
    scope_allows,
)
from xae.errors import Forbidden, NotFound
from xae.store.models import App, Team

RED, BLUE = Team(id=1, name="red"), Team(id=2, name="blue")
SHOP = App(id=10, name="shop", team_id=RED.id, team=RED)
APP_ACTIONS = [a for a in Action if a.value.startswith("app.")]
TEAM_ACTIONS = [a for a in Action if a.value.startswith("team.") and a != Action.TEAM_CREATE]


def member(role: Role | None, scope: Scope = Scope.ADMIN, app_id: int | None = None) -> Principal:
    roles = {RED.id: role} if role else {}
    return Principal(user_id=5, name="ann", is_admin=False, scope=scope, app_id=app_id, roles=roles)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", APP_ACTIONS)
def test_a_members_role_decides_every_app_action(role: Role, action: Action) -> None:
    principal = member(role)
    if action in ROLE_ACTIONS[role]:
        authorize_app(principal, SHOP, action, writes=True)
    else:
        with pytest.raises(Forbidden) as refused:
            authorize_app(principal, SHOP, action, writes=True)
        message = refused.value.message
        assert f"you are a {role} of team 'red'" in message
        assert f"needs the {MINIMUM_ROLE[action]} role" in message


@pytest.mark.parametrize("action", APP_ACTIONS)
def test_an_app_of_a_team_one_is_not_in_is_indistinguishable_from_a_missing_one(
    action: Action,
) -> None:
    outsider = Principal(user_id=6, name="eve", is_admin=False, roles={BLUE.id: Role.OWNER})
    with pytest.raises(NotFound) as refused:
        authorize_app(outsider, SHOP, action, writes=True)
    assert refused.value.message == app_not_found("shop").message


@pytest.mark.parametrize("action", TEAM_ACTIONS)
def test_a_team_one_is_not_in_answers_as_missing_and_roles_decide_in_ones_own(
    action: Action,
) -> None:
    with pytest.raises(NotFound, match="does not exist, or you are not in it"):
        authorize_team(member(None), RED, action, writes=True)
    for role in Role:
        if action in ROLE_ACTIONS[role]:
            authorize_team(member(role), RED, action, writes=True)
        else:
            with pytest.raises(Forbidden):
                authorize_team(member(role), RED, action, writes=True)


@pytest.mark.parametrize("scope", list(Scope))
@pytest.mark.parametrize("action", APP_ACTIONS)
def test_a_tokens_scope_bounds_even_an_owner(scope: Scope, action: Action) -> None:
    owner = member(Role.OWNER, scope)
    allowed = scope_allows(scope, action)
    for writes in (False, True):
        if allowed and not (writes and scope == Scope.READ):
            authorize_app(owner, SHOP, action, writes=writes)
        else:
            with pytest.raises(Forbidden, match=f"has scope {scope}"):
                authorize_app(owner, SHOP, action, writes=writes)


def test_an_app_limited_token_sees_only_its_app_and_only_reads_and_deploys_it() -> None:
    ci = member(Role.OWNER, Scope.DEPLOY, app_id=SHOP.id)
    other = App(id=11, name="blog", team_id=RED.id, team=RED)
    for action in APP_ACTIONS:
        with pytest.raises(NotFound):
            authorize_app(ci, other, action, writes=False)
        if action in APP_TOKEN_ACTIONS:
            authorize_app(ci, SHOP, action, writes=True)
        else:
            with pytest.raises(Forbidden):
                authorize_app(ci, SHOP, action, writes=True)
    with pytest.raises(NotFound):
        authorize_team(ci, RED, Action.TEAM_READ, writes=False)


def test_admins_act_on_every_team_and_manage_users_and_others_do_not() -> None:
    admin = Principal(user_id=1, name="root", is_admin=True)
    for action in APP_ACTIONS:
        authorize_app(admin, SHOP, action, writes=True)
    for action in TEAM_ACTIONS:
        authorize_team(admin, BLUE, action, writes=True)
    check(admin, Action.USERS, writes=True)
    assert audit_teams(admin) is None
    with pytest.raises(Forbidden, match="platform admin"):
        check(member(Role.OWNER), Action.USERS, writes=False)


def test_viewers_see_config_names_only_and_only_owners_read_the_audit_trail() -> None:
    assert not allows_app(member(Role.VIEWER), SHOP, Action.APP_CONFIG_READ)
    assert allows_app(member(Role.DEVELOPER), SHOP, Action.APP_CONFIG_READ)
    assert not allows_app(member(None), SHOP, Action.APP_READ)
    assert audit_teams(member(Role.OWNER)) == {RED.id}
    with pytest.raises(Forbidden, match="needs the owner role"):
        audit_teams(member(Role.DEVELOPER))


def test_only_who_may_post_v1_apps_may_create_an_app_on_the_side_of_a_push() -> None:
    # Creating a preview app is creating an app: the same rule as `POST /v1/apps`.
    assert app_creation_refusal(member(Role.DEVELOPER), RED) is None
    assert app_creation_refusal(member(Role.OWNER), RED) is None
    ci = replace(member(Role.OWNER, Scope.DEPLOY, app_id=SHOP.id), token_name="ci")
    assert app_creation_refusal(ci, RED) == "token 'ci' is limited to one app"
    assert app_creation_refusal(member(Role.OWNER, Scope.DEPLOY), RED) == (
        "this token has scope deploy"
    )
    assert app_creation_refusal(member(Role.VIEWER), RED) == "you are a viewer of team 'red'"
    assert app_creation_refusal(member(None), RED) == "you have no role in team 'red'"
