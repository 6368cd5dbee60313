"""Upgrading a store whose builds hold manifest `env` defaults in clear (revision 0015): the
defaults move to a sealed blob that opens to the same values, the manifest keeps its keys, and
the SQLite file no longer contains any default."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import event, select, text
from tests.unit.store.test_store_migration_sealed import insecure_delete, raw_bytes, upgrade_to

from xae.control.manifests import stored_manifest
from xae.store.db import Database
from xae.store.models import Build, HookOutbox
from xae.store.sealed import Vault, key_file

DEFAULT = "sk-live-default-0x5eed"
MANIFEST = {
    "env": {
        "PAYMENT_KEY": {"value": DEFAULT, "description": "the payment API key"},
        "API_KEY": {"required": True},
        "SALT": {"generator": "secret"},
    },
    "postdeploy": "python seed.py",
}


def old_store(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    upgrade_to(db.engine, "0015_previews")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO teams (id, name, created_at) VALUES (1, 't', '2026-01-01')"))
        conn.execute(
            text(
                "INSERT INTO apps (id, name, team_id, created_at) VALUES (1, 'shop', 1, "
                "'2026-01-01')"
            )
        )
        for build_id, manifest in ((1, json.dumps(MANIFEST)), (2, None)):
            conn.execute(
                text(
                    "INSERT INTO builds (id, app_id, status, processes, log, created_at, "
                    "manifest) VALUES (:i, 1, 'succeeded', '{}', '', '2026-01-01', :m)"
                ),
                {"i": build_id, "m": manifest},
            )
    return db


def test_manifest_defaults_are_sealed_in_place_and_gone_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "xae.db"
    db = old_store(path)
    event.listen(db.engine, "connect", insecure_delete)
    db.engine.dispose()
    assert DEFAULT.encode() in raw_bytes(path)  # the test's premise
    vault = Vault.at(key_file(tmp_path), create=True)

    db.migrate(vault)
    db.engine.dispose()

    assert DEFAULT.encode() not in raw_bytes(path)
    with db.session() as session:
        build, plain = session.scalars(select(Build).order_by(Build.id)).all()
        assert build.manifest is not None
        assert build.manifest["env"]["PAYMENT_KEY"] == {"description": "the payment API key"}
        assert vault.open(build.env_defaults_sealed) == {"PAYMENT_KEY": DEFAULT}
        manifest = stored_manifest(build, vault)
        assert manifest is not None and manifest.env["PAYMENT_KEY"].value == DEFAULT
        assert manifest.env["API_KEY"].required and manifest.postdeploy == "python seed.py"
        assert plain.manifest is None and plain.env_defaults_sealed == ""
        assert session.scalars(select(HookOutbox)).all() == []
