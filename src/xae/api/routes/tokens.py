"""API tokens: a user's own, for scripts and CI (`xae tokens:create NAME --scope deploy`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from xae.api.deps import PlatformDep
from xae.api.guards import ManagesTokens, Self
from xae.api.pagination import PageDep, page
from xae.api.schemas import MAX_INT, ApiTokenCreate, ApiTokenIssued, ApiTokenPublic
from xae.control import tokens as service
from xae.store.models import Token

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


def _public(token: Token, apps: dict[int, str], current: int | None) -> ApiTokenPublic:
    return ApiTokenPublic(
        id=token.id,
        name=token.name,
        scope=token.scope,
        app=apps.get(token.app_id) if token.app_id is not None else None,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        current=token.id == current,
    )


@router.get("")
def list_tokens(
    p: PlatformDep, principal: Self, pages: PageDep, request: Request, response: Response
) -> list[ApiTokenPublic]:
    """The caller's own tokens (never their secrets), oldest first."""
    after = pages.after_number()
    with p.db.session() as session:
        rows = service.own_tokens(session, principal, after_id=after, limit=pages.limit + 1)
        apps = service.app_names(session, rows)
        shown = page(rows, pages, lambda t: str(t.id), request, response)
        return [_public(t, apps, principal.token_id) for t in shown]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_token(body: ApiTokenCreate, p: PlatformDep, principal: ManagesTokens) -> ApiTokenIssued:
    with p.db.session() as session:
        issued, app = service.create_token(
            session,
            principal,
            body.name,
            body.scope,
            body.app,
            timedelta(days=body.expires_in_days),
        )
        row = session.get(Token, issued.id)
        assert row is not None
        apps = {app.id: app.name} if app is not None else {}
        return ApiTokenIssued(**_public(row, apps, None).model_dump(), token=issued.token)


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=MAX_INT, description="the id `xae tokens` shows")],
    p: PlatformDep,
    principal: ManagesTokens,
) -> Response:
    """Revoke one of your tokens; it is refused from now on."""
    with p.db.session() as session:
        service.revoke(session, principal, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
