"""Object-level authorization, in one place: who may act on which app."""

from __future__ import annotations

from xae.errors import NotFound
from xae.store.models import App, User


def authorize_app(user: User, app: App) -> None:
    """Admins act on every app, others on their own; others' apps look like they do not exist."""
    if not (user.is_admin or app.owner_id == user.id):
        raise NotFound(f"app {app.name!r} does not exist: see `xae apps`")
