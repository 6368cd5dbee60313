"""Password hashing: scrypt with a salt; only the right password verifies."""

from __future__ import annotations

import pytest

from xae.auth.passwords import hash_password, verify_password


def test_the_right_password_verifies_against_its_hash() -> None:
    stored = hash_password("s3cret-password")
    assert verify_password("s3cret-password", stored)


def test_a_wrong_password_does_not_verify() -> None:
    stored = hash_password("s3cret-password")
    assert not verify_password("s3cret-passwore", stored)
    assert not verify_password("", stored)


def test_the_hash_contains_no_plaintext_and_names_its_scheme() -> None:
    stored = hash_password("s3cret-password")
    assert "s3cret" not in stored
    assert stored.startswith("scrypt$")


def test_the_same_password_hashes_differently_each_time() -> None:
    assert hash_password("s3cret-password") != hash_password("s3cret-password")


def test_non_ascii_passwords_round_trip() -> None:
    assert verify_password("pässwörd-ü", hash_password("pässwörd-ü"))


@pytest.mark.parametrize("stored", ["", "plaintext", "md5$abc$def", "scrypt$only-two", "a$b$c$d"])
def test_a_malformed_or_foreign_stored_hash_never_verifies(stored: str) -> None:
    assert not verify_password("anything", stored)
