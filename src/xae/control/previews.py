"""Preview apps: a branch of an app gets its own app, `APP--BRANCH`, with its own URL.

`xae previews:on --app APP` turns them on with an idle time. `preview_for_branch` (which a push
of a non-deploy branch calls, and `POST /v1/apps/{name}/previews`) creates the branch's preview
or finds it and records the push; the preview is an app of the parent's team with a copy of the
parent's config and health and route settings, whose first release gets one `web` instance.
`remove_preview` (the branch was deleted) destroys it, and `reap_idle` destroys previews idle
longer than their parent allows, those whose parent is gone, and those of a parent whose
previews were turned off.

Two branches whose names map to one preview name (`feature/a`, `Feature_A`) are refused clearly
(`PreviewConflict`): the second never deploys into the first's app.

Making a preview is making an app: only a caller who may create apps in the parent's team
(`POST /v1/apps` there) makes one; anyone who may deploy the parent (an app-limited CI token
too) updates an existing preview and removes it with its branch. So a token limited to one app
never adds apps to its team by pushing branches (`PreviewNotAllowed`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from xae.auth.policy import Principal, app_creation_refusal
from xae.control.apps import add_app, destroy_app, get_app
from xae.control.audit import SYSTEM, Actor, record
from xae.control.platform import Platform
from xae.domain.gc import Collected
from xae.domain.names import PREVIEW_SEPARATOR
from xae.domain.previews import IDLE_DEFAULT, branch_label, preview_name
from xae.errors import InvalidInput, PreviewConflict, PreviewNotAllowed, XaeError
from xae.store.models import App, Preview, Team, utcnow

log = logging.getLogger("xae.control.previews")

COPIED_SETTINGS = (
    "health_path",
    "health_timeout",
    "health_attempts",
    "drain_seconds",
    "redirect_https",
    "max_body",
    "read_timeout",
)
"""The parent's settings a new preview starts with (besides its config vars)."""


@dataclass(frozen=True)
class PreviewInfo:
    branch: str
    app: str
    url: str
    created_at: datetime
    last_push_at: datetime


@dataclass(frozen=True)
class PreviewsInfo:
    enabled: bool
    idle_seconds: int | None
    previews: list[PreviewInfo]


def set_previews(
    p: Platform,
    user: Principal,
    name: str,
    *,
    enabled: bool,
    idle_seconds: int | None = None,
    app_id: int | None = None,
) -> None:
    """Turn previews of `name` on (with an idle time, default 3 days) or off. Off: no new
    previews; the existing ones go at the reaper's next pass."""
    if PREVIEW_SEPARATOR in name:
        raise InvalidInput(f"{name} is a preview app: turn previews on for the app it previews")
    if not enabled and idle_seconds is not None:
        raise InvalidInput("an idle time is for turning previews on: leave it out")
    with p.db.session() as session:
        app = get_app(session, name, app_id)
        app.previews_idle = (idle_seconds or IDLE_DEFAULT) if enabled else None
        record(
            session,
            user,
            "previews.on" if enabled else "previews.off",
            name,
            app=name,
            details={"idle_seconds": app.previews_idle} if enabled else {},
        )


def list_previews(p: Platform, name: str) -> PreviewsInfo:
    with p.db.session() as session:
        parent = get_app(session, name)
        rows = session.execute(
            select(Preview, App)
            .join(App, App.id == Preview.app_id)
            .where(Preview.parent_id == parent.id)
            .order_by(Preview.branch)
        ).tuples()
        return PreviewsInfo(
            enabled=parent.previews_idle is not None,
            idle_seconds=parent.previews_idle,
            previews=[
                PreviewInfo(
                    row.branch, app.name, p.url_for(app.name), row.created_at, row.last_push_at
                )
                for row, app in rows
            ],
        )


def preview_for_branch(p: Platform, user: Principal | Actor, parent_app: str, branch: str) -> str:
    """The preview app of `branch` of `parent_app`: created (same team, a copy of the parent's
    config and settings) or found; either way the push is recorded. Returns its name.

    Refused when previews are off for the parent, when the branch maps to a name another
    branch's preview or another app has (`PreviewConflict`)."""
    branch_label(branch)  # the branch's own checks first: they name the branch
    with p.db.session() as session:
        parent = get_app(session, parent_app)
        if parent.previews_idle is None:
            raise InvalidInput(
                f"previews are off for {parent_app}: turn them on with "
                f"`xae previews:on --app {parent_app}`"
            )
        parent_id, team = parent.id, parent.team
        session.expunge(team)
    name = preview_name(parent_app, branch)
    with p.change(name):
        with p.db.session() as session:
            existing = session.scalar(select(App).where(App.name == name))
            if existing is not None:
                row = session.scalar(select(Preview).where(Preview.app_id == existing.id))
                if row is None or row.parent_id != parent_id:
                    raise PreviewConflict(
                        f"branch {ascii(branch[:60])} would get the preview app {name}, but an "
                        "app of that name exists already: rename the branch"
                    )
                if row.branch != branch:
                    raise PreviewConflict(
                        f"branches {ascii(row.branch[:60])} and {ascii(branch[:60])} both map to "
                        f"the preview app {name}: rename one of them (or delete the first "
                        "branch, which removes its preview)"
                    )
                row.last_push_at = utcnow()
                return name
            _check_may_create(user, team, name)
            count = session.scalar(
                select(func.count()).select_from(Preview).where(Preview.parent_id == parent_id)
            )
            most = p.settings.max_previews_per_app
            if (count or 0) >= most:
                raise InvalidInput(
                    f"{parent_app} has {count} preview apps, the most allowed: delete a branch "
                    f"(its preview goes with it) or wait for an idle one to go "
                    f"(`xae previews --app {parent_app}`)"
                )
        add_app(p, user if isinstance(user, Principal) else _as_principal(user), name, team)
        with p.db.session() as session:
            parent_row = session.get(App, parent_id)
            app = get_app(session, name)
            if parent_row is not None:
                app.config_sealed = parent_row.config_sealed
                app.config_keys = list(parent_row.config_keys)
                for setting in COPIED_SETTINGS:
                    setattr(app, setting, getattr(parent_row, setting))
            session.add(Preview(parent_id=parent_id, branch=branch, app_id=app.id))
            record(
                session,
                user,
                "preview.create",
                name,
                app=name,
                details={"parent": parent_app, "branch": branch[:255]},
            )
    return name


def _check_may_create(user: Principal | Actor, team: Team, name: str) -> None:
    """A new preview is a new app in `team`: the caller needs what `POST /v1/apps` needs
    there. A push with an app-limited or deploy-scoped token finds an existing preview, but
    never makes one (`PreviewNotAllowed`, which the push shows as a note, storing the branch)."""
    if not isinstance(user, Principal):
        return  # xae itself
    reason = app_creation_refusal(user, team)
    if reason is not None:
        raise PreviewNotAllowed(
            f"no preview app {name} was made: making one creates an app in team "
            f"{team.name!r}, and {reason}. The branch is stored; to preview it, push it once "
            "with a token that may create apps in the team (a developer's or owner's login "
            "token, `xae login`); later pushes with this token update that preview"
        )


def _as_principal(actor: Actor) -> Principal:
    """xae itself acting (the reaper) as the principal the app services record."""
    return Principal(user_id=0, name=actor.name, is_admin=True, token_name=actor.token_name)


def remove_preview(
    p: Platform, user: Principal | Actor, parent_app: str, branch: str
) -> str | None:
    """Destroy the preview app of `branch` of `parent_app` (the branch was deleted); returns
    its name, or None if the branch had none."""
    with p.db.session() as session:
        parent = get_app(session, parent_app)
        found = session.execute(
            select(App.name)
            .join(Preview, Preview.app_id == App.id)
            .where(Preview.parent_id == parent.id, Preview.branch == branch)
        ).scalar()
    if found is None:
        return None
    principal = user if isinstance(user, Principal) else _as_principal(user)
    destroy_app(p, principal, found, found)
    return found


def reap_idle(
    p: Platform, collected: Collected, dry_run: bool, now: datetime | None = None
) -> None:
    """Destroy previews idle longer than their parent's idle time, previews whose parent is
    gone and previews of a parent whose previews are off; their names go to `collected`."""
    now = now or utcnow()
    with p.db.session() as session:
        rows = session.execute(
            select(Preview, App.name).join(App, App.id == Preview.app_id)
        ).tuples()
        doomed = []
        for row, name in rows:
            parent = session.get(App, row.parent_id) if row.parent_id is not None else None
            idle = parent.previews_idle if parent is not None else None
            if idle is None or now - row.last_push_at > timedelta(seconds=idle):
                doomed.append(name)
    for name in doomed:
        collected.previews.append(name)
        if dry_run:
            continue
        try:
            destroy_app(p, _as_principal(SYSTEM), name, name)
            log.info("destroyed the idle preview app %s", name)
        except XaeError as e:
            collected.errors.append(f"{name}: {e.message}")
