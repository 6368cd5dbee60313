"""Authorization, decided in one place: may this caller do this to that object?

Every API route names the one action it performs (`xae.api.guards`); the guard loads the object
and asks this module. The answers (OWASP API1, broken object-level authorization, is what this
rules out):

- an object of a team the caller has no role in answers exactly like a missing one (404): its
  existence is not revealed, so names cannot be probed;
- an action on a visible object that the caller's role, or their token's scope, does not allow
  answers 403 and says which role or scope it needs;
- a token limited to one app sees no other app (404), and can do nothing but read and deploy it;
- a `read` token changes nothing, whatever the action (the guard passes `writes`).

The rules themselves are data in `xae.domain.access`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from xae.domain.access import (
    APP_TOKEN_ACTIONS,
    DESCRIPTIONS,
    MINIMUM_ROLE,
    Action,
    Role,
    Scope,
    role_allows,
    scope_allows,
)
from xae.errors import Forbidden, NotFound
from xae.store.models import App, Team

TEAM_ACTIONS = frozenset(
    {Action.TEAM_READ, Action.TEAM_CREATE_APP, Action.TEAM_MANAGE, Action.TEAM_AUDIT}
)


@dataclass(frozen=True)
class Principal:
    """Who is asking: the user behind a token, with the token's limits and the user's roles."""

    user_id: int
    name: str
    is_admin: bool
    scope: Scope = Scope.ADMIN
    token_id: int | None = None
    token_name: str | None = None
    app_id: int | None = None
    """The one app the token may act on (a deploy token); None: no such limit."""
    roles: Mapping[int, Role] = field(default_factory=dict)
    """The user's role in each team they belong to, by team id."""
    address: str | None = None

    def role_in(self, team_id: int) -> Role | None:
        """The caller's role in a team; platform admins own every team."""
        if self.is_admin:
            return Role.OWNER
        return self.roles.get(team_id)

    def visible_team_ids(self) -> set[int] | None:
        """The teams whose objects the caller may see; None for every team (admins)."""
        return None if self.is_admin else set(self.roles)

    def team_ids_allowing(self, action: Action) -> set[int] | None:
        """The teams on which the caller's role allows `action`; None for every team."""
        if self.is_admin:
            return None
        return {team for team, role in self.roles.items() if role_allows(role, action)}


def app_not_found(name: str) -> NotFound:
    """The answer for an app that does not exist *or* that the caller may not see."""
    return NotFound(
        f"app {name!r} does not exist, or is not yours: `xae apps` lists yours, and "
        f"`xae apps:create {name}` makes it if the name is free"
    )


def team_not_found(name: str) -> NotFound:
    """The answer for a team that does not exist *or* that the caller is not in."""
    return NotFound(
        f"team {name!r} does not exist, or you are not in it: `xae teams` lists yours, and "
        f"`xae teams:create {name}` makes it if the name is free"
    )


def check(principal: Principal, action: Action, *, writes: bool) -> None:
    """Whether the token may be used for `action` at all (before any object is looked at)."""
    if writes and principal.scope == Scope.READ:
        raise _scope_refusal(principal, action, Scope.DEPLOY)
    if not scope_allows(principal.scope, action):
        raise _scope_refusal(principal, action, _least_scope(action))
    if principal.app_id is not None and action not in APP_TOKEN_ACTIONS:
        raise Forbidden(
            f"token {principal.token_name!r} is limited to one app: "
            f"{DESCRIPTIONS[action]} needs another token (`xae login`)"
        )
    if action == Action.USERS and not principal.is_admin:
        raise Forbidden("managing users needs a platform admin: ask one to run `xae users:create`")
    if action == Action.PLATFORM and not principal.is_admin:
        raise Forbidden(
            f"{DESCRIPTIONS[action]} needs a platform admin: a team member collects an app's "
            "old images with `xae gc --app APP`"
        )


def authorize_app(principal: Principal, app: App, action: Action, *, writes: bool) -> None:
    """May `principal` do `action` to `app`? Raises `NotFound` if they may not even see it."""
    if principal.app_id is not None and principal.app_id != app.id:
        raise app_not_found(app.name)
    role = principal.role_in(app.team_id)
    if role is None:
        raise app_not_found(app.name)
    check(principal, action, writes=writes)
    if not role_allows(role, action):
        raise _role_refusal(role, action, app.team.name)


def allows_app(principal: Principal, app: App, action: Action) -> bool:
    """Whether `action` on `app` (which the caller may see) is allowed: for answers that show
    more to some callers than to others (config values, to developers and up)."""
    try:
        authorize_app(principal, app, action, writes=False)
    except (Forbidden, NotFound):
        return False
    return True


def authorize_team(principal: Principal, team: Team, action: Action, *, writes: bool) -> None:
    """May `principal` do `action` in `team`? Raises `NotFound` if they are not in it."""
    role = principal.role_in(team.id)
    if role is None or principal.app_id is not None:
        raise team_not_found(team.name)
    check(principal, action, writes=writes)
    if not role_allows(role, action):
        raise _role_refusal(role, action, team.name)


def audit_teams(principal: Principal) -> set[int] | None:
    """The teams whose audit trail the caller reads (None: all, for admins)."""
    teams = principal.team_ids_allowing(Action.TEAM_AUDIT)
    if teams is not None and not teams:
        raise Forbidden(
            f"{DESCRIPTIONS[Action.TEAM_AUDIT]} needs the owner role in a team, or a platform "
            "admin: ask an owner of your team"
        )
    return teams


def _least_scope(action: Action) -> Scope:
    return next(s for s in Scope if scope_allows(s, action))


def _scope_refusal(principal: Principal, action: Action, needed: Scope) -> Forbidden:
    token = f"token {principal.token_name!r}" if principal.token_name else "this token"
    return Forbidden(
        f"{token} has scope {principal.scope}: {DESCRIPTIONS[action]} needs scope {needed} "
        f"or more (`xae tokens:create NAME --scope {needed}`, or `xae login`)"
    )


def _role_refusal(role: Role, action: Action, team: str) -> Forbidden:
    needed = MINIMUM_ROLE[action]
    return Forbidden(
        f"you are a {role} of team {team!r}: {DESCRIPTIONS[action]} needs the {needed} role; "
        f"ask an owner of the team (`xae teams:info {team}` lists them)"
    )


def app_creation_refusal(principal: Principal, team: Team) -> str | None:
    """Why `principal` may not create an app in `team` (as `POST /v1/apps` would refuse), in
    words for a message that names the remedy; None when it may. For callers that create an
    app on the side of another action (a push that makes a preview app)."""
    token = f"token {principal.token_name!r}" if principal.token_name else "this token"
    if principal.app_id is not None:
        return f"{token} is limited to one app"
    try:
        authorize_team(principal, team, Action.TEAM_CREATE_APP, writes=True)
    except Forbidden:
        role = principal.role_in(team.id)
        if role is not None and not role_allows(role, Action.TEAM_CREATE_APP):
            return f"you are a {role} of team {team.name!r}"
        return f"{token} has scope {principal.scope}"
    except NotFound:
        return f"you have no role in team {team.name!r}"
    return None
