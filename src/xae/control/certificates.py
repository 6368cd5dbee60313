"""Certificates as the services see them: an app's uploaded certificates added (checked by
`xae.domain.certs`, key sealed), listed (never the key), removed, and the list the router
serves.

A second certificate with exactly the same names as one the app has replaces it: that is a
renewal, and refusing it would force a remove-then-add with a moment where the hosts have no
certificate. Certificates with overlapping but different names are kept side by side; for each
host the router gets the one that expires last (`served_certificates`), so uploading a renewal
under a slightly different name set still takes over.

Every change records an audit event (names, fingerprint, expiry: never the key) and then calls
`Platform.on_certificates_changed`, which the router's side hooks to reload what it serves.

What this must never do: return, log or record a private key; serve a certificate for a host
that is not its app's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from xae.auth.policy import Principal
from xae.control.apps import get_app
from xae.control.audit import Actor, record
from xae.control.localca import LocalCA, single_label
from xae.control.platform import Platform
from xae.domain.certs import check_certificate, covers
from xae.errors import NotFound
from xae.router.base import Certificate as Served
from xae.store.models import App, Certificate, Domain, utcnow
from xae.store.sealed import Vault

AUDITED_NAMES = 50
"""How many of a certificate's names an audit event keeps."""
LOCAL_CA_NAME = "local-ca"
"""The served name of the local CA's wildcard certificate."""


def app_hosts(p: Platform, app: App) -> list[str]:
    """The host names `app` answers at: `<app>.<base domain>`, then its custom domains (read
    through the session `app` was loaded in)."""
    hosts = [p.routes.host_for(app.name)]
    session = object_session(app)
    if session is not None:
        hosts += session.scalars(
            select(Domain.hostname).where(Domain.app_id == app.id).order_by(Domain.hostname)
        )
    return hosts


@dataclass(frozen=True)
class CertificateInfo:
    id: int
    names: list[str]
    issuer: str
    fingerprint: str
    not_before: datetime
    not_after: datetime
    days_left: int
    created_at: datetime
    created_by: str
    source: str = "upload"
    """`upload`, or `acme` (xae renews it)."""


@dataclass(frozen=True)
class Added:
    certificate: CertificateInfo
    replaced: int | None
    """The id of the certificate with the same names this one replaced."""
    uncovered: list[str]
    """The app's hosts this certificate does not cover (a warning)."""


def _info(row: Certificate, now: datetime) -> CertificateInfo:
    return CertificateInfo(
        id=row.id,
        names=list(row.hosts),
        issuer=row.issuer,
        fingerprint=row.fingerprint,
        not_before=row.not_before,
        not_after=row.not_after,
        days_left=(row.not_after - now).days,
        created_at=row.created_at,
        created_by=row.created_by,
        source=row.source,
    )


def add_certificate(
    p: Platform,
    user: Principal | Actor,
    name: str,
    chain_pem: str,
    key_pem: str,
    *,
    app_id: int | None = None,
    now: datetime | None = None,
    source: str = "upload",
) -> Added:
    """Check and store a certificate for app `name`, replacing one with the same names."""
    now = now or utcnow()
    with p.db.session() as session:
        app = get_app(session, name, app_id)
        hosts = app_hosts(p, app)
        checked = check_certificate(chain_pem, key_pem, hosts, now=now)
        same = next(
            (
                row
                for row in session.scalars(select(Certificate).where(Certificate.app_id == app.id))
                if sorted(row.hosts) == checked.names
            ),
            None,
        )
        replaced = same.id if same is not None else None
        if same is not None:
            session.delete(same)
        row = Certificate(
            app_id=app.id,
            name=(checked.names[0] if checked.names else checked.covered[0])[:254],
            hosts=checked.names,
            issuer=checked.issuer,
            fingerprint=checked.fingerprint,
            not_before=checked.not_before,
            not_after=checked.not_after,
            chain_pem=checked.chain_pem,
            key_sealed=p.vault.seal({"key": checked.key_pem}),
            created_at=now,
            created_by=user.name,
            source=source,
        )
        session.add(row)
        session.flush()
        record(
            session,
            user,
            "cert.add",
            f"{name}/cert/{row.id}",
            app=name,
            details={
                "id": row.id,
                "names": checked.names[:AUDITED_NAMES],
                "fingerprint": checked.fingerprint,
                "not_after": checked.not_after.isoformat(),
                "replaced": replaced,
                "source": source,
            },
        )
        info = _info(row, now)
    p.on_certificates_changed()
    return Added(certificate=info, replaced=replaced, uncovered=checked.uncovered)


def list_certificates(
    session: Session, app: App, now: datetime | None = None
) -> list[CertificateInfo]:
    now = now or utcnow()
    rows = session.scalars(
        select(Certificate).where(Certificate.app_id == app.id).order_by(Certificate.id)
    )
    return [_info(row, now) for row in rows]


def remove_certificate(
    p: Platform, user: Principal, name: str, cert_id: int, *, app_id: int | None = None
) -> None:
    with p.db.session() as session:
        app = get_app(session, name, app_id)
        row = session.get(Certificate, cert_id)
        if row is None or row.app_id != app.id:
            raise NotFound(
                f"app {name!r} has no certificate {cert_id}: `xae certs --app {name}` lists them"
            )
        details = {
            "id": row.id,
            "names": list(row.hosts)[:AUDITED_NAMES],
            "fingerprint": row.fingerprint,
        }
        session.delete(row)
        record(session, user, "cert.remove", f"{name}/cert/{cert_id}", app=name, details=details)
    p.on_certificates_changed()


def open_key(vault: Vault, row: Certificate) -> str:
    return vault.open(row.key_sealed)["key"]


HostsOf = Callable[[App], Sequence[str]]


def served_certificates(
    session: Session,
    vault: Vault,
    hosts_of: HostsOf,
    local_ca: LocalCA | None = None,
) -> list[Served]:
    """What the router serves: for each app host, the uploaded certificate covering it that
    expires last (its key opened), each certificate listed once with the hosts it gets; then
    the local CA's (`*.<base domain>` and `<base domain>`; with a one-label base domain, one
    leaf per app host no uploaded certificate covers, since clients refuse `*.localhost`).

    A certificate is served only for its own app's hosts, whatever names it carries."""
    best: dict[str, Certificate] = {}
    apps = {app.id: app for app in session.scalars(select(App))}
    rows = session.scalars(select(Certificate).order_by(Certificate.not_after, Certificate.id))
    for row in rows:
        app = apps.get(row.app_id)
        if app is None:
            continue
        for host in hosts_of(app):
            if covers(row.hosts, host):
                best[host] = row  # later rows expire later: they win
    by_cert: dict[int, list[str]] = {}
    rows_by_id: dict[int, Certificate] = {}
    for host, row in best.items():
        by_cert.setdefault(row.id, []).append(host)
        rows_by_id[row.id] = row
    served = [
        Served(
            name=str(cert_id),
            hosts=sorted(hosts),
            chain_pem=rows_by_id[cert_id].chain_pem,
            key_pem=open_key(vault, rows_by_id[cert_id]),
        )
        for cert_id, hosts in sorted(by_cert.items())
    ]
    if local_ca is not None:
        if single_label(local_ca.base_domain):
            for app in sorted(apps.values(), key=lambda a: a.name):
                for host in hosts_of(app):
                    if host in best or not host.endswith("." + local_ca.base_domain):
                        continue
                    leaf = local_ca.app_leaf(host)
                    served.append(
                        Served(f"{LOCAL_CA_NAME}-{app.name}", [host], leaf.chain_pem, leaf.key_pem)
                    )
        wildcard = local_ca.wildcard_leaf()
        served.append(Served(LOCAL_CA_NAME, wildcard.hosts, wildcard.chain_pem, wildcard.key_pem))
    return served


@dataclass(frozen=True)
class LocalCAView:
    path: str
    fingerprint: str
    pem: str
    trust: list[str]


def local_ca_info(p: Platform) -> LocalCAView:
    """Where the local CA's certificate is and how to trust it (made now if it is missing)."""
    ca = p.local_ca
    ca.ensure()
    path = str(ca.cert_path)
    host = p.routes.host_for("APP")
    return LocalCAView(
        path=path,
        fingerprint=ca.fingerprint(),
        pem=ca.ca_pem(),
        trust=[
            f"on this machine: curl --cacert {path} https://{host}:<https port>/",
            "from anywhere: xae certs:ca > xae-ca.crt, then curl --cacert xae-ca.crt ...",
            "system-wide (Debian): sudo cp xae-ca.crt /usr/local/share/ca-certificates/ && "
            "sudo update-ca-certificates",
        ],
    )


def push_certificates(p: Platform) -> None:
    """Give the router exactly the certificates it should serve now (no-op without HTTPS)."""
    if not p.settings.tls_port:
        return
    with p.db.session() as session:
        served = served_certificates(session, p.vault, lambda app: app_hosts(p, app), p.local_ca)
    p.router.set_certificates(served)
