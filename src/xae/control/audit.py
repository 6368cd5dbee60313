"""The audit trail: every state change records who did what to what, and how it ended."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from xae.store.models import Event


def record(
    session: Session,
    actor: str,
    action: str,
    target: str,
    *,
    result: str = "ok",
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        Event(actor=actor, action=action, target=target, result=result, details=details or {})
    )
