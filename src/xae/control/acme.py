"""Automatic certificates: an app's custom domains proven to an ACME CA, renewed before expiry.

`xae certs:auto --app APP` asks the CA configured in `Settings.acme_directory` (Let's Encrypt,
or a private CA) for one certificate covering the app's custom domains. The CA checks each
name over plain HTTP: it fetches `/.well-known/acme-challenge/<token>` from the name, which
reaches the router on its HTTP port; the router hands that path, on every host, to the API
(`xae.api.routes.acme`), which answers from the platform's `ChallengeBoard`. The certificate is then
stored like an uploaded one (`xae.control.certificates`, key sealed) with `source="acme"`, so
the router serves it by SNI at once.

`Renewer` re-issues every ACME certificate once a third of its lifetime is left
(`xae.router.acme.renewal_due`), checking every `acme_renew_every` seconds; a failed renewal is
logged and audited and retried at the next check, while the current certificate keeps serving.

Wildcard domains are left out (ACME proves them only through DNS); names under the base domain
are left out too (the local CA covers them, and a public CA cannot reach `*.localhost`).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy import select

from xae.auth.policy import Principal
from xae.control.apps import get_app
from xae.control.audit import SYSTEM, Actor, record
from xae.control.certificates import Added, add_certificate, app_hosts
from xae.control.platform import Platform
from xae.errors import InvalidInput, TooManyRequests, XaeError
from xae.router.acme import AcmeClient, renewal_due
from xae.store.models import App, Certificate, utcnow

log = logging.getLogger(__name__)

MAX_ORDERS = 2
"""ACME orders in flight at once, platform-wide."""
ORDERS = threading.BoundedSemaphore(MAX_ORDERS)


def client(p: Platform) -> AcmeClient:
    settings = p.settings
    if not settings.acme_directory:
        raise InvalidInput(
            "automatic certificates are off on this platform: its operator sets "
            "XAE_ACME_DIRECTORY to an ACME CA's directory URL (or upload a certificate with "
            "`xae certs:add`)"
        )
    return AcmeClient(
        settings.acme_directory,
        settings.state_dir / "acme" / "account.pem",
        email=settings.acme_email or None,
        ca_bundle=settings.acme_ca_bundle or True,
    )


def provable_names(p: Platform, app: App) -> list[str]:
    """The app's names a public CA can check over HTTP: custom, not wildcard, not local."""
    base = p.settings.base_domain
    return [
        host
        for host in app_hosts(p, app)
        if not host.startswith("*.") and host != base and not host.endswith("." + base)
    ]


def request_certificate(
    p: Platform, user: Principal | Actor, name: str, *, app_id: int | None = None
) -> Added:
    """Issue (or re-issue) the app's ACME certificate for its custom domains and store it."""
    acme = client(p)
    with p.db.session() as session:
        app = get_app(session, name, app_id)
        app_id = app.id
        names = provable_names(p, app)
    if not names:
        raise InvalidInput(
            f"app {name} has no custom domain an ACME CA can check (wildcards and names under "
            f"{p.settings.base_domain} do not count): add one with `xae domains:add NAME "
            f"--app {name}` and point its DNS at this router first"
        )
    # An order waits on the CA for up to 90 s in an API thread: at most a few at once, so one
    # team asking again and again cannot hold the threads every other team's calls need.
    if not ORDERS.acquire(blocking=False):
        raise TooManyRequests(
            f"{MAX_ORDERS} certificate orders are running on this platform: try again in a minute",
            retry_after=60,
        )
    try:
        issued = acme.issue(names, p.challenges)
    finally:
        ORDERS.release()
    return add_certificate(
        p, user, name, issued.chain_pem, issued.key_pem, app_id=app_id, source="acme"
    )


def renew_due(p: Platform, now: datetime | None = None) -> list[str]:
    """Renew every ACME certificate due for it; the apps renewed (failures are audited)."""
    now = now or utcnow()
    with p.db.session() as session:
        due = [
            (row.app_id, app.name)
            for row, app in session.execute(
                select(Certificate, App)
                .join(App, App.id == Certificate.app_id)
                .where(Certificate.source == "acme")
            ).tuples()
            if renewal_due(row.not_before, row.not_after, now)
        ]
    renewed = []
    for app_id, name in dict(due).items():
        try:
            request_certificate(p, SYSTEM, name, app_id=app_id)
            renewed.append(name)
        except XaeError as failure:
            log.warning("renewing the ACME certificate of %s failed: %s", name, failure)
            with p.db.session() as session:
                record(
                    session,
                    SYSTEM,
                    "cert.renew_failed",
                    f"{name}/cert",
                    app=name,
                    details={"reason": str(failure)[:300]},
                )
    return renewed


class Renewer:
    """A daemon thread that runs `renew_due` every `acme_renew_every` seconds."""

    def __init__(self, p: Platform) -> None:
        self._p = p
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="acme-renewer", daemon=True)

    def start(self) -> None:
        if self._p.settings.acme_directory:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        # A first pass at start: a plane restarted more often than the interval still renews.
        while True:
            try:
                renew_due(self._p)
            except Exception:  # the thread must outlive a broken pass
                log.exception("the ACME renewal pass failed")
            if self._stop.wait(self._p.settings.acme_renew_every):
                return
