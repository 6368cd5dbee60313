"""Object-level authorization, in one place: who may act on which app.

Someone else's app must be indistinguishable from a missing one: `app_not_found` is the one
error for both, used by `authorize_app` here and by the lookup (`xae.control.apps.get_app`).
"""

from __future__ import annotations

from xae.errors import NotFound
from xae.store.models import App, User


def app_not_found(name: str) -> NotFound:
    """The answer for an app that does not exist *or* that the caller may not see."""
    return NotFound(
        f"app {name!r} does not exist, or is not yours: `xae apps` lists yours, and "
        f"`xae apps:create {name}` makes it if the name is free"
    )


def authorize_app(user: User, app: App) -> None:
    """Admins act on every app, others on their own; others' apps look like they do not exist."""
    if not (user.is_admin or app.owner_id == user.id):
        raise app_not_found(app.name)
