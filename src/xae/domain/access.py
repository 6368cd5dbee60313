"""Who may do what: team roles, token scopes and the actions the API is made of.

The rules are data, in one table each, so that they can be read, printed (`docs/security.md`
shows them) and tested whole; `xae.auth.policy` applies them to a request. Every API route names
exactly one `Action` (see `xae.api.guards`); a route that names none does not start.

The model follows Heroku Teams and Cloud Foundry spaces: every app belongs to one team; a
user's role in that team bounds what they may do to its apps; a token's scope bounds it further
(a `read` token of an owner can only read); a platform admin is above every team. Someone with
no role in a team cannot tell its objects exist.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A user's role in one team, from least to most trusted."""

    VIEWER = "viewer"
    DEVELOPER = "developer"
    OWNER = "owner"


class Scope(StrEnum):
    """What a token may be used for, at most (the user's roles still apply)."""

    READ = "read"
    DEPLOY = "deploy"
    ADMIN = "admin"


class Action(StrEnum):
    """One thing a caller asks the API to do. The prefix says which object it is checked on."""

    # Anyone with a valid token, about themselves or the platform's public face.
    SELF = "self"
    # On an app (its team's roles apply).
    APP_READ = "app.read"
    APP_CONFIG_READ = "app.config.read"
    APP_LOGS = "app.logs"
    APP_DEPLOY = "app.deploy"
    APP_DESTROY = "app.destroy"
    APP_TRANSFER = "app.transfer"
    # On a team.
    TEAM_READ = "team.read"
    TEAM_CREATE_APP = "team.create_app"
    TEAM_MANAGE = "team.manage"
    TEAM_AUDIT = "team.audit"
    # Creating a team: any user may (and owns it).
    TEAM_CREATE = "team.create"
    # Tokens: a user's own.
    TOKENS = "tokens"
    # The platform's users: admins only.
    USERS = "users"
    # The platform's own housekeeping (`xae gc` of every app): admins only.
    PLATFORM = "platform"


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.APP_READ, Action.TEAM_READ}),
    Role.DEVELOPER: frozenset(
        {
            Action.APP_READ,
            Action.APP_CONFIG_READ,
            Action.APP_LOGS,
            Action.APP_DEPLOY,
            Action.TEAM_READ,
            Action.TEAM_CREATE_APP,
        }
    ),
    Role.OWNER: frozenset(
        {
            Action.APP_READ,
            Action.APP_CONFIG_READ,
            Action.APP_LOGS,
            Action.APP_DEPLOY,
            Action.APP_DESTROY,
            Action.APP_TRANSFER,
            Action.TEAM_READ,
            Action.TEAM_CREATE_APP,
            Action.TEAM_MANAGE,
            Action.TEAM_AUDIT,
        }
    ),
}
"""What each team role allows on that team and its apps."""

READ_ACTIONS = frozenset(
    {Action.SELF, Action.APP_READ, Action.TEAM_READ, Action.TEAM_AUDIT, Action.USERS}
)
"""Actions that change nothing. A `read` token may ask for these (the method must be a read:
`xae.auth.policy` refuses a `read` token any write, whatever the action)."""

SCOPE_ACTIONS: dict[Scope, frozenset[Action]] = {
    Scope.READ: READ_ACTIONS,
    Scope.DEPLOY: READ_ACTIONS | {Action.APP_CONFIG_READ, Action.APP_LOGS, Action.APP_DEPLOY},
    Scope.ADMIN: frozenset(Action),
}
"""What each token scope allows at most."""

APP_TOKEN_ACTIONS = frozenset(
    {Action.SELF, Action.APP_READ, Action.APP_CONFIG_READ, Action.APP_LOGS, Action.APP_DEPLOY}
)
"""What a token limited to one app may do (to that app only): CI deploy tokens."""

DESCRIPTIONS: dict[Action, str] = {
    Action.SELF: "reading your own account",
    Action.APP_READ: "reading an app",
    Action.APP_CONFIG_READ: "reading config values",
    Action.APP_LOGS: "reading logs",
    Action.APP_DEPLOY: "changing an app (deploy, config, scale, restart, rollback, settings)",
    Action.APP_DESTROY: "destroying an app",
    Action.APP_TRANSFER: "moving an app to another team",
    Action.TEAM_READ: "reading a team",
    Action.TEAM_CREATE_APP: "creating an app in a team",
    Action.TEAM_MANAGE: "managing a team's members",
    Action.TEAM_AUDIT: "reading the audit trail",
    Action.TEAM_CREATE: "creating a team",
    Action.TOKENS: "managing tokens",
    Action.USERS: "managing users",
    Action.PLATFORM: "reclaiming the platform's disk",
}
"""What each action is, in the words an error message uses."""

MINIMUM_ROLE: dict[Action, Role] = {
    action: min(
        (role for role, allowed in ROLE_ACTIONS.items() if action in allowed),
        key=list(Role).index,
    )
    for action in Action
    if any(action in allowed for allowed in ROLE_ACTIONS.values())
}
"""The least role that allows each team-checked action (for error messages and docs)."""


def role_allows(role: Role, action: Action) -> bool:
    return action in ROLE_ACTIONS[role]


def scope_allows(scope: Scope, action: Action) -> bool:
    return action in SCOPE_ACTIONS[scope]


def scope_at_most(scope: Scope, ceiling: Scope) -> bool:
    """Whether a token of `scope` may be made with a token of `ceiling`."""
    order = list(Scope)
    return order.index(scope) <= order.index(ceiling)
