"""The vault: config sealed with the key ring in a 0600 file, opened only with it, followed
when the file changes (a rotation by another process)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from xae.store.sealed import Vault, VaultError, create_key_file, read_keys, write_keys

CONFIG = {"DATABASE_URL": "postgres://u:hunter2@db/shop", "DEBUG": "1"}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "secrets.key"


def test_a_sealed_config_opens_to_the_same_values_and_holds_none_of_them(path: Path) -> None:
    vault = Vault.at(path, create=True)
    sealed = vault.seal(CONFIG)
    assert vault.open(sealed) == CONFIG
    for text in ("hunter2", "postgres", "DATABASE_URL", "DEBUG"):
        assert text not in sealed
    assert vault.seal(CONFIG) != sealed  # a fresh IV each time


def test_an_empty_config_seals_to_the_empty_string_and_needs_no_key(path: Path) -> None:
    vault = Vault.at(path, create=True)
    assert vault.seal({}) == ""
    assert vault.open("") == {}


def test_the_key_file_is_created_once_0600_with_one_key(path: Path) -> None:
    assert create_key_file(path)
    first = path.read_bytes()
    assert not create_key_file(path)
    assert path.read_bytes() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(read_keys(path)) == 1


def test_another_key_cannot_open_it_and_the_error_says_what_to_do_without_secrets(
    path: Path, tmp_path: Path
) -> None:
    sealed = Vault.at(path, create=True).seal(CONFIG)
    other = Vault.at(tmp_path / "other.key", create=True)
    with pytest.raises(VaultError, match="restore the key file") as raised:
        other.open(sealed)
    message = raised.value.message
    assert "hunter2" not in message and sealed not in message
    for key in read_keys(path) + read_keys(tmp_path / "other.key"):
        assert key.decode() not in message


def test_a_missing_or_broken_key_file_is_a_clear_error_that_does_not_show_its_content(
    path: Path,
) -> None:
    with pytest.raises(VaultError, match="is missing.*restore it"):
        Vault(path)
    path.write_text("not-a-key-but-maybe-a-secret\n")
    with pytest.raises(VaultError, match="not a key") as raised:
        Vault(path)
    assert "maybe-a-secret" not in raised.value.message


def test_a_vault_follows_its_file_when_another_process_rotates_it(path: Path) -> None:
    now = [0.0]
    create_key_file(path)
    running = Vault(path, grace=60, clock=lambda: now[0])
    old = running.seal(CONFIG)
    new_key = Fernet.generate_key()
    write_keys(path, [new_key, *read_keys(path)])  # what `rotate-key` does first
    both = running.seal(CONFIG)
    assert Fernet(new_key).decrypt(both.encode())  # seals with the new key at once
    assert running.open(old) == CONFIG
    write_keys(path, [new_key])  # ... and last
    assert running.open(both) == CONFIG
    # A read begun before the rotation committed may still hold `old`: it opens for a grace
    # period (never seals), then the dropped key is gone from the running vault too.
    assert running.open(old) == CONFIG
    now[0] = 61.0
    with pytest.raises(VaultError):
        running.open(old)


def test_reseal_moves_a_value_to_the_newest_key(path: Path) -> None:
    vault = Vault.at(path, create=True)
    sealed = vault.seal(CONFIG)
    write_keys(path, [Fernet.generate_key(), *read_keys(path)])
    assert not vault.sealed_with_newest(sealed)
    resealed = vault.reseal(sealed)
    assert vault.sealed_with_newest(resealed)
    assert vault.open(resealed) == CONFIG


def test_replacing_the_key_file_leaves_no_scratch_file_and_keeps_0600(path: Path) -> None:
    create_key_file(path)
    write_keys(path, [Fernet.generate_key(), Fernet.generate_key()])
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(read_keys(path)) == 2
