"""Config vars as the services see them: opened from and sealed into the store's rows, and the
key ring rotated.

The store keeps an app's (and each release's) config sealed, with the names in clear
(`xae.store.sealed`). Services open it only where the values are needed: a config change, the
API's `GET config` for those allowed to see values, and the plan that hands them to the
runtime. Everything else (a deploy or rollback copying a release's config, release listings,
the audit trail) moves the sealed blob or the names and never sees a value.

What this must never do: put a value into an audit record, a log line or an error message.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.fernet import Fernet
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from xae.store.db import Database
from xae.store.models import App, Build, Certificate, Event, Hook, Release
from xae.store.sealed import Vault, write_keys


def open_config(vault: Vault, row: App | Release) -> dict[str, str]:
    """The row's config vars, values included."""
    return vault.open(row.config_sealed)


def config_names(row: App | Release) -> list[str]:
    """The row's config var names, sorted; no key needed (what a viewer may see)."""
    return list(row.config_keys)


def seal_config(vault: Vault, row: App | Release, config: dict[str, str]) -> None:
    """Store `config` in `row`, sealed, with its names in clear."""
    row.config_sealed = vault.seal(config)
    row.config_keys = sorted(config)


def copy_config(source: App | Release, target: App | Release) -> None:
    """Give `target` the config of `source`, still sealed."""
    target.config_sealed = source.config_sealed
    target.config_keys = list(source.config_keys)


@dataclass(frozen=True)
class Rotation:
    apps: int
    releases: int
    certificates: int = 0


def _reseal_all(session: Session, vault: Vault, *, stale_only: bool) -> tuple[int, int]:
    """Re-seal every sealed row with the newest key (`stale_only`: those it does not open);
    returns how many apps and releases were re-sealed."""
    rows: list[App | Release] = [
        *session.scalars(select(App).where(App.config_sealed != "")),
        *session.scalars(select(Release).where(Release.config_sealed != "")),
    ]
    apps = releases = 0
    for row in rows:
        if stale_only and vault.sealed_with_newest(row.config_sealed):
            continue
        row.config_sealed = vault.reseal(row.config_sealed)
        if isinstance(row, App):
            apps += 1
        else:
            releases += 1
    return apps, releases


def _reseal_keys(session: Session, vault: Vault, *, stale_only: bool) -> int:
    """Re-seal the certificates' private keys like config (`_reseal_all`); returns how many."""
    count = 0
    for cert in session.scalars(select(Certificate)):
        if stale_only and vault.sealed_with_newest(cert.key_sealed):
            continue
        cert.key_sealed = vault.reseal(cert.key_sealed)
        count += 1
    for hook in session.scalars(select(Hook)):  # webhook secrets, sealed the same way
        if stale_only and vault.sealed_with_newest(hook.secret_sealed):
            continue
        hook.secret_sealed = vault.reseal(hook.secret_sealed)
    # Builds' manifest defaults (`xae.control.manifests.store_manifest`), sealed the same way.
    for build in session.scalars(select(Build).where(Build.env_defaults_sealed != "")):
        if stale_only and vault.sealed_with_newest(build.env_defaults_sealed):
            continue
        build.env_defaults_sealed = vault.reseal(build.env_defaults_sealed)
    return count


def rotate_key(db: Database, vault: Vault, actor: str) -> Rotation:
    """Seal everything with a new key, then forget the old ones; the control plane may run.

    The order makes a crash at any point safe: (1) the new key is added in front of the ring
    (the file is replaced atomically), so both open everything; (2) every sealed row is
    re-sealed with it in one transaction, with the audit event; (3) a second pass re-seals
    whatever still needs an old key; (4) only then the ring is rewritten with the new key
    alone. A crash before (2) commits leaves the old key sealing everything and still in the
    file; after it, both keys in the file. Running `rotate-key` again finishes the job.

    Concurrent changes: (2) holds the store's write lock before it reads, and every change
    seals only after its own first write (`set_config` inserts the release first), so it
    either committed before (2) read (and is re-sealed) or waited for (2) and read the ring
    after (1). (3) catches what breaks that rule."""
    old = vault.keys
    new = Fernet.generate_key()
    write_keys(vault.path, [new, *old])
    with db.session() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("LOCK TABLE apps, releases, certificates IN EXCLUSIVE MODE"))
        # On SQLite the event is written first, so this transaction holds the write lock
        # before it reads: no change can commit between reading a row and re-sealing it.
        event = Event(actor=actor, action="vault.rotate", target="config", details={})
        session.add(event)
        session.flush()
        apps, releases = _reseal_all(session, vault, stale_only=False)
        certificates = _reseal_keys(session, vault, stale_only=False)
        event.details = {
            "apps": apps,
            "releases": releases,
            "certificates": certificates,
            "retired_keys": len(old),
        }
    with db.session() as session:
        _reseal_all(session, vault, stale_only=True)
        _reseal_keys(session, vault, stale_only=True)
    write_keys(vault.path, [new])
    return Rotation(apps=apps, releases=releases, certificates=certificates)
