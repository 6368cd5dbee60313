"""Certificates: an app's uploaded TLS certificates (list, add, remove) and the local CA.

Reading needs the app's read action; adding and removing the deploy action, like config: a
certificate only serves the app's own hosts, which anyone who may deploy the app already
controls, and its key is write-only (no response carries it).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from fastapi.responses import PlainTextResponse

from xae.api.deps import PlatformDep, SessionDep
from xae.api.guards import PUBLIC, AppDeploy, AppRead, Self
from xae.api.responses import errors
from xae.api.schemas import (
    MAX_INT,
    CertificateAdded,
    CertificateCreate,
    CertificatePublic,
    LocalCAInfo,
)
from xae.control import acme
from xae.control import certificates as service

router = APIRouter(prefix="/v1", tags=["certificates"])
challenges = APIRouter(tags=["certificates"])
"""The ACME CA's HTTP-01 checks: the router hands `/.well-known/acme-challenge/` here."""

TOKEN = r"^[A-Za-z0-9_-]{1,128}$"


def _public(info: service.CertificateInfo) -> CertificatePublic:
    return CertificatePublic(**vars(info))


@router.get("/apps/{name}/certs")
def list_certs(app: AppRead, session: SessionDep) -> list[CertificatePublic]:
    """The app's certificates, oldest first; never their keys."""
    return [_public(info) for info in service.list_certificates(session, app)]


@router.post("/apps/{name}/certs", status_code=status.HTTP_201_CREATED, responses=errors(413))
def add_cert(
    app: AppDeploy, body: CertificateCreate, p: PlatformDep, user: Self
) -> CertificateAdded:
    """Upload a certificate (checked: key matches, chain in order, valid now, covers at least
    one of the app's names). One with the same names as an existing one replaces it."""
    added = service.add_certificate(p, user, app.name, body.chain, body.key, app_id=app.id)
    warnings = [
        f"the certificate does not cover {host}: that name keeps the local CA's certificate"
        for host in added.uncovered
    ]
    return CertificateAdded(
        certificate=_public(added.certificate), replaced=added.replaced, warnings=warnings
    )


@router.post("/apps/{name}/certs/auto", status_code=status.HTTP_201_CREATED)
def auto_cert(app: AppDeploy, p: PlatformDep, user: Self) -> CertificateAdded:
    """Get a certificate for the app's custom domains from the platform's ACME CA (each name
    must already point at this router); renewed automatically before it expires."""
    added = acme.request_certificate(p, user, app.name, app_id=app.id)
    return CertificateAdded(certificate=_public(added.certificate), replaced=added.replaced)


@challenges.get(
    "/.well-known/acme-challenge/{token}",
    response_class=PlainTextResponse,
    dependencies=[PUBLIC],
    include_in_schema=False,
)
def acme_challenge(token: Annotated[str, Path(pattern=TOKEN)], p: PlatformDep) -> Response:
    answer = p.challenges.answer(token)
    if answer is None:
        return PlainTextResponse("no such challenge\n", status_code=404)
    return PlainTextResponse(answer)


# `{cert_id:int}`: only digits match, so `/certs/auto` (POST) is never also this route (a
# wrong method there answers 405 naming POST alone).
@router.delete("/apps/{name}/certs/{cert_id:int}", status_code=status.HTTP_204_NO_CONTENT)
def remove_cert(
    app: AppDeploy,
    cert_id: Annotated[int, Path(ge=1, le=MAX_INT, description="the id `xae certs` shows")],
    p: PlatformDep,
    user: Self,
) -> Response:
    service.remove_certificate(p, user, app.name, cert_id, app_id=app.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/tls/ca")
def local_ca(p: PlatformDep, user: Self) -> LocalCAInfo:
    """The local CA's certificate (public) and how to make clients trust it."""
    return LocalCAInfo(**vars(service.local_ca_info(p)))
