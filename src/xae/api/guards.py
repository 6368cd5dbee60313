"""Route guards: each API route declares the one action it performs, here, and nowhere else.

A guard is a FastAPI dependency. `AppAccess` and `TeamAccess` load the object the path names
(`{name}` for apps, `{team}` for teams) and hand it to the handler authorized, via
`xae.auth.policy`; `Requires` checks an action that is not on one object (the handler filters
what it lists by the principal's roles). `Public` marks the few routes that need no token.

`route_guards` finds a route's guards; `xae.api.app` refuses to start if any route has none, so
a route added later cannot skip authorization, and publishes each route's action in the OpenAPI
document as `x-xae-action` (the two-team authorization suite reads it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from xae.api.deps import GitPrincipalDep, PlatformDep, PrincipalDep
from xae.auth.policy import (
    Principal,
    app_not_found,
    authorize_app,
    authorize_team,
    check,
    team_not_found,
)
from xae.control.teams import default_team
from xae.domain.access import Action
from xae.domain.names import validate_app_name, validate_team_name
from xae.store.models import App, Team

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _writes(request: Request) -> bool:
    return request.method not in SAFE_METHODS


class Guard:
    """A route's declaration of what it does; `action` None means the route is public."""

    action: Action | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.action})"


class Public(Guard):
    """No token needed (logging in)."""

    def __call__(self) -> None:
        return None


class Requires(Guard):
    """An action not on one object: the token must allow it; the handler lists only what the
    principal may see."""

    def __init__(self, action: Action) -> None:
        self.action = action

    def __call__(self, request: Request, principal: PrincipalDep) -> Principal:
        check(principal, self.action, writes=_writes(request))  # type: ignore[arg-type]
        return principal


class AppAccess(Guard):
    """The app named by the path's `{name}`, loaded once and authorized for `action`.

    The row comes back detached from its session, with its team and current release loaded:
    handlers read it as it was at the start of the request. Services that change the app re-read
    it under the app's lock, since the state a change starts from must be read inside it."""

    def __init__(self, action: Action) -> None:
        self.action = action

    def __call__(
        self, name: str, request: Request, platform: PlatformDep, principal: PrincipalDep
    ) -> App:
        # A name no app can have is refused (422) before any lookup: it reveals nothing.
        validate_app_name(name)
        with platform.db.session() as session:
            app = session.scalar(
                select(App)
                .where(App.name == name)
                .options(selectinload(App.team), selectinload(App.current_release))
            )
            if app is None:
                raise app_not_found(name)
            authorize_app(principal, app, self._action, writes=_writes(request))
        return app

    @property
    def _action(self) -> Action:
        assert self.action is not None
        return self.action


class TeamAccess(Guard):
    """The team named by `{team}` (in the path, or the query where a route moves something to
    a team), loaded once and authorized for `action`."""

    def __init__(self, action: Action) -> None:
        self.action = action

    def __call__(
        self, team: str, request: Request, platform: PlatformDep, principal: PrincipalDep
    ) -> Team:
        assert self.action is not None
        validate_team_name(team)
        with platform.db.session() as session:
            row = session.scalar(select(Team).where(Team.name == team))
            if row is None:
                raise team_not_found(team)
            authorize_team(principal, row, self.action, writes=_writes(request))
        return row


class TeamOrDefault(TeamAccess):
    """`TeamAccess` where the team may be left out (`?team=`): then it is the caller's only
    team that allows the action (`xae.control.teams.default_team`)."""

    def __call__(  # type: ignore[override]
        self,
        request: Request,
        platform: PlatformDep,
        principal: PrincipalDep,
        team: str | None = None,
    ) -> Team:
        assert self.action is not None
        if team is not None:
            return super().__call__(team, request, platform, principal)
        with platform.db.session() as session:
            row = default_team(session, principal, self.action)
            authorize_team(principal, row, self.action, writes=_writes(request))
        return row


class GitAccess(AppAccess):
    """The app a git client names (`/git/{name}.git/...`), authorized by git service: fetching
    (`git-upload-pack`) needs `action` (reading the app) and changes nothing, whatever the
    method; pushing (`git-receive-pack`, named by the path or by `?service=`) needs the deploy
    action. The token is the HTTP Basic password (`xae.api.deps.git_principal`)."""

    def __call__(
        self, name: str, request: Request, platform: PlatformDep, principal: GitPrincipalDep
    ) -> App:
        validate_app_name(name)
        pushes = request.url.path.endswith("/git-receive-pack") or (
            request.query_params.get("service") == "git-receive-pack"
        )
        action = Action.APP_DEPLOY if pushes else self._action
        with platform.db.session() as session:
            app = session.scalar(
                select(App).where(App.name == name).options(selectinload(App.team))
            )
            if app is None:
                raise app_not_found(name)
            authorize_app(principal, app, action, writes=pushes)
        return app


PUBLIC = Depends(Public())

AppRead = Annotated[App, Depends(AppAccess(Action.APP_READ))]
AppConfigRead = Annotated[App, Depends(AppAccess(Action.APP_CONFIG_READ))]
AppLogs = Annotated[App, Depends(AppAccess(Action.APP_LOGS))]
AppDeploy = Annotated[App, Depends(AppAccess(Action.APP_DEPLOY))]
AppDestroy = Annotated[App, Depends(AppAccess(Action.APP_DESTROY))]
AppTransfer = Annotated[App, Depends(AppAccess(Action.APP_TRANSFER))]

TeamRead = Annotated[Team, Depends(TeamAccess(Action.TEAM_READ))]
TeamCreateApp = Annotated[Team, Depends(TeamAccess(Action.TEAM_CREATE_APP))]
NewAppTeam = Annotated[Team, Depends(TeamOrDefault(Action.TEAM_CREATE_APP))]
TeamManage = Annotated[Team, Depends(TeamAccess(Action.TEAM_MANAGE))]

Self = Annotated[Principal, Depends(Requires(Action.SELF))]
"""Any valid token: the caller's own account, and lists filtered to what they may see."""
CreatesTeam = Annotated[Principal, Depends(Requires(Action.TEAM_CREATE))]
ManagesTokens = Annotated[Principal, Depends(Requires(Action.TOKENS))]
ManagesUsers = Annotated[Principal, Depends(Requires(Action.USERS))]
ReadsAudit = Annotated[Principal, Depends(Requires(Action.TEAM_AUDIT))]
ManagesPlatform = Annotated[Principal, Depends(Requires(Action.PLATFORM))]


def route_guards(route: APIRoute) -> list[Guard]:
    """Every guard among the route's dependencies (at any depth)."""
    found: list[Guard] = []
    stack: list[Any] = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, Guard):
            found.append(dependant.call)
        stack.extend(dependant.dependencies)
    return found


GitRepo = Annotated[App, Depends(GitAccess(Action.APP_READ))]
"""An app's git repository: read to fetch, deploy to push (`GitAccess`)."""
