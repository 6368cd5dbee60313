"""Config vars at rest: sealed in the store, named in clear, moved between releases still
sealed, and re-sealed with a new key by a rotation that survives a crash at any step."""

from __future__ import annotations

import threading

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.unit.fakes import World, deploy

from xae.auth.policy import Principal
from xae.control import configvars
from xae.control.apps import get_app
from xae.control.configvars import config_names, open_config, rotate_key
from xae.control.releases import rollback, set_config
from xae.store.models import App, Event, Release
from xae.store.sealed import Vault, read_keys

SECRET = "s3cret-value-4711"


def raw_store(world: World) -> bytes:
    """Every byte SQLite wrote (the database and its WAL)."""
    path = world.platform.settings.state_dir.parent / "xae.db"
    data = b"".join(p.read_bytes() for p in path.parent.glob("xae.db*") if p.is_file())
    assert b"SQLite format 3" in data
    return data


def test_a_config_change_stores_sealed_values_and_clear_names_and_audits_names_only(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    set_config(world.platform, alice, shop, {"API_KEY": SECRET})

    with world.db.session() as session:
        app = get_app(session, shop)
        assert config_names(app) == ["API_KEY"]
        assert SECRET not in app.config_sealed
        events = list(session.scalars(select(Event)))
    assert SECRET.encode() not in raw_store(world)
    assert all(SECRET not in repr(e.details) for e in events)
    [web] = [i for i in world.runtime.list_instances() if i.process == "web"]
    assert world.runtime.spec_of(web).env["API_KEY"] == SECRET  # the runtime gets the value


def test_a_rollback_copies_the_old_release_config_without_opening_it(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    set_config(world.platform, alice, shop, {"A": "1"})
    set_config(world.platform, alice, shop, {"A": "2"})
    rollback(world.platform, alice, shop, 2)
    with world.db.session() as session:
        app = get_app(session, shop)
        v2 = session.scalars(select(Release).where(Release.version == 2)).one()
        assert app.config_sealed == v2.config_sealed
        assert open_config(world.platform.vault, app) == {"A": "1"}


def every_sealed(world: World) -> list[str]:
    with world.db.session() as session:
        return [
            *session.scalars(select(App.config_sealed).where(App.config_sealed != "")),
            *session.scalars(select(Release.config_sealed).where(Release.config_sealed != "")),
        ]


def test_rotate_key_reseals_everything_drops_the_old_key_and_records_an_event(
    world: World, shop: str, alice: Principal
) -> None:
    vault = world.platform.vault
    deploy(world.platform, shop, "img:1")
    set_config(world.platform, alice, shop, {"API_KEY": SECRET})
    [old_key] = read_keys(vault.path)
    before = every_sealed(world)

    done = rotate_key(world.db, Vault(vault.path), actor="xae-admin")

    assert (done.apps, done.releases) == (1, 1)
    [new_key] = read_keys(vault.path)
    assert new_key != old_key
    after = every_sealed(world)
    assert len(after) == len(before) and not set(after) & set(before)
    for sealed in after:
        assert Fernet(new_key).decrypt(sealed.encode())
    # The running plane's vault follows the file: it opens and seals with the new key.
    with world.db.session() as session:
        assert open_config(vault, get_app(session, shop)) == {"API_KEY": SECRET}
        [event] = session.scalars(select(Event).where(Event.action == "vault.rotate"))
        assert (event.actor, event.details["apps"], event.details["releases"]) == (
            "xae-admin",
            1,
            1,
        )
        assert old_key.decode() not in repr(event.details)
    set_config(world.platform, alice, shop, {"OTHER": "x"})
    assert all(Fernet(new_key).decrypt(s.encode()) for s in every_sealed(world))


class Crash(Exception):
    pass


def test_a_rotation_that_dies_before_its_commit_loses_nothing_and_can_run_again(
    world: World, shop: str, alice: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = world.platform.vault
    set_config(world.platform, alice, shop, {"API_KEY": SECRET})
    [old_key] = read_keys(vault.path)

    def die(*_: object) -> str:
        raise Crash

    with monkeypatch.context() as patched:
        patched.setattr(Vault, "reseal", die)
        with pytest.raises(Crash):
            rotate_key(world.db, Vault(vault.path), actor="xae-admin")

    keys = read_keys(vault.path)
    assert len(keys) == 2 and keys[1] == old_key  # the new key in front, the old one kept
    with world.db.session() as session:
        assert open_config(vault, get_app(session, shop)) == {"API_KEY": SECRET}
        assert not list(session.scalars(select(Event).where(Event.action == "vault.rotate")))

    rotate_key(world.db, Vault(vault.path), actor="xae-admin")
    assert len(read_keys(vault.path)) == 1
    with world.db.session() as session:
        assert open_config(vault, get_app(session, shop)) == {"API_KEY": SECRET}


def test_a_value_sealed_with_the_old_key_after_the_main_pass_is_resealed_before_the_drop(
    world: World, shop: str, alice: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change that read the key file before the rotation but committed after its main pass
    still ends up under the new key: the second pass finds it."""
    vault = world.platform.vault
    set_config(world.platform, alice, shop, {"API_KEY": SECRET})
    [old_key] = read_keys(vault.path)
    straggler = Fernet(old_key).encrypt(b'{"LATE":"1"}').decode()
    real = configvars._reseal_all

    def late_commit_then_reseal(session: Session, v: Vault, *, stale_only: bool) -> object:
        if stale_only:
            with world.db.session() as other:
                get_app(other, shop).config_sealed = straggler
        return real(session, v, stale_only=stale_only)

    monkeypatch.setattr(configvars, "_reseal_all", late_commit_then_reseal)
    rotate_key(world.db, Vault(vault.path), actor="xae-admin")

    [new_key] = read_keys(vault.path)
    with world.db.session() as session:
        sealed = get_app(session, shop).config_sealed
    assert Fernet(new_key).decrypt(sealed.encode()) == b'{"LATE":"1"}'


def test_config_changes_running_during_a_rotation_all_end_up_under_the_new_key(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    errors: list[BaseException] = []

    def changes() -> None:
        try:
            for n in range(8):
                set_config(world.platform, alice, shop, {f"K{n}": SECRET})
        except BaseException as e:  # reported by the assertion below
            errors.append(e)

    worker = threading.Thread(target=changes)
    worker.start()
    rotate_key(world.db, Vault(world.platform.vault.path), actor="xae-admin")
    worker.join(timeout=60)
    assert not worker.is_alive() and not errors, errors

    [key] = read_keys(world.platform.vault.path)
    for sealed in every_sealed(world):
        assert Fernet(key).decrypt(sealed.encode())
    with world.db.session() as session:
        assert len(open_config(world.platform.vault, get_app(session, shop))) == 8
