"""The audit trail, for team owners (their teams' events) and admins (all)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from xae.api.deps import PlatformDep
from xae.api.guards import ReadsAudit
from xae.api.pagination import PageDep, page
from xae.api.schemas import AuditEventPublic
from xae.auth.policy import audit_teams
from xae.control.audit import AuditQuery, events
from xae.domain.names import validate_app_name, validate_user_name
from xae.errors import InvalidInput

router = APIRouter(prefix="/v1/audit", tags=["audit"])

_UNITS = {"m": 60, "h": 3600, "d": 86400}


def parse_since(value: str) -> datetime:
    """`30m`, `12h`, `7d` before now (UTC, naive as the store keeps it)."""
    unit = _UNITS.get(value[-1:]) if value else None
    number = value[:-1]
    if unit is None or not number.isdigit() or int(number) > 3650 * 24 * 60:
        raise InvalidInput(f"since {value[:20]!r} is not a duration: write it like 30m, 12h or 7d")
    return (datetime.now(UTC) - timedelta(seconds=int(number) * unit)).replace(tzinfo=None)


@router.get("")
def audit_events(
    p: PlatformDep,
    principal: ReadsAudit,
    pages: PageDep,
    request: Request,
    response: Response,
    app: Annotated[str | None, Query(max_length=30)] = None,
    user: Annotated[str | None, Query(max_length=254)] = None,
    since: Annotated[str | None, Query(max_length=20, description="e.g. 7d, 12h, 30m")] = None,
) -> list[AuditEventPublic]:
    """Newest first: who did what, to what, from where, with which result."""
    if app is not None:
        validate_app_name(app)
    if user is not None:
        validate_user_name(user)
    before = pages.after_number()
    query = AuditQuery(
        team_ids=audit_teams(principal),
        app=app,
        user=user,
        since=parse_since(since) if since else None,
        limit=pages.limit + 1,
        before_id=before,
    )
    with p.db.session() as session:
        rows = events(session, query)
    return [
        AuditEventPublic(
            id=e.id,
            at=e.at,
            actor=e.actor,
            token_name=e.token_name,
            source=e.source,
            action=e.action,
            target=e.target,
            app=e.app,
            result=e.result,
            details=e.details,
        )
        for e in page(rows, pages, lambda e: str(e.id), request, response)
    ]
