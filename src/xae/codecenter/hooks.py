"""Deploy notification hooks of an app: add (the secret made and shown once), list, remove,
and the delivery log. Sending them is `xae.codecenter.notify`'s job.

A hook's URL is checked when it is added (scheme, no credentials, and, when its host is an
address or resolves now, the platform's address policy: `xae.domain.hooks`), so a tenant
learns at once that `http://169.254.169.254/` or the API's own address is refused; every
delivery checks again, since what a name resolves to can change.

What it must never do: store the secret in clear, return it after creation, or put it in the
audit trail or an error message.
"""

from __future__ import annotations

import ipaddress
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xae.auth.policy import Principal, app_not_found
from xae.codecenter.image_policy import platform_addresses, resolve_host
from xae.control.audit import record
from xae.control.platform import Platform
from xae.domain.hooks import (
    address_refusal,
    literal_address,
    parse_cidrs,
    parse_events,
    parse_hook_url,
    refused,
)
from xae.domain.registries import Address
from xae.errors import InvalidInput, NotFound
from xae.store.models import App, Hook, HookDelivery

MAX_HOOKS = 10
"""Hooks one app may have."""


def check_hook_url(p: Platform, url: str) -> None:
    """Refuse (`HookNotAllowed`) a URL whose host is, or now resolves to, an address inside
    the platform. A name that does not resolve yet is accepted: its deliveries check it."""
    target = parse_hook_url(url)
    literal = literal_address(target.host)
    addresses: list[Address]
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = [
                ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve_host(target.host)
            ]
        except (OSError, ValueError):
            return
    blocked = parse_cidrs(p.settings.app_blocked_cidrs)
    allowed = parse_cidrs(p.settings.hook_allowed_cidrs)
    known = platform_addresses(p.settings)
    for address in addresses:
        problem = address_refusal(address, blocked=blocked, allowed=allowed, platform=known)
        if problem is not None:
            raise refused(target.host, problem)


def add_hook(
    p: Platform, user: Principal, app: App, url: str, events: list[str]
) -> tuple[Hook, str]:
    """Add a hook to `app`; the row and its secret (the only time it is given out)."""
    kinds = parse_events(events)
    check_hook_url(p, url)
    secret = secrets.token_hex(32)
    with p.db.session() as session:
        if session.get(App, app.id) is None:
            raise app_not_found(app.name)
        count = session.scalar(select(func.count()).where(Hook.app_id == app.id)) or 0
        if count >= MAX_HOOKS:
            raise InvalidInput(
                f"{app.name} has {count} hooks, the most an app may have: remove one first "
                f"(`xae hooks:remove ID --app {app.name}`)"
            )
        hook = Hook(
            app_id=app.id,
            url=url,
            events=kinds,
            secret_sealed=p.vault.seal({"secret": secret}),
            created_by=user.name,
        )
        session.add(hook)
        session.flush()
        record(
            session,
            user,
            "hook.add",
            app.name,
            app=app.name,
            details={"hook": hook.id, "url": url[:200], "events": kinds},
        )
        session.expunge(hook)
    return hook, secret


def list_hooks(session: Session, app: App) -> list[Hook]:
    return list(session.scalars(select(Hook).where(Hook.app_id == app.id).order_by(Hook.id)))


def remove_hook(p: Platform, user: Principal, app: App, hook_id: int) -> None:
    with p.db.session() as session:
        hook = session.get(Hook, hook_id)
        if hook is None or hook.app_id != app.id:
            raise NotFound(f"{app.name} has no hook {hook_id}: see `xae hooks --app {app.name}`")
        session.delete(hook)
        record(session, user, "hook.remove", app.name, app=app.name, details={"hook": hook_id})


def deliveries(
    session: Session, app: App, hook_id: int | None = None, limit: int = 50
) -> list[HookDelivery]:
    """The app's newest delivery attempts (of one hook, if given), newest first."""
    query = select(HookDelivery).where(HookDelivery.app_id == app.id)
    if hook_id is not None:
        query = query.where(HookDelivery.hook_id == hook_id)
    return list(session.scalars(query.order_by(HookDelivery.id.desc()).limit(limit)))
