"""Password hashing: argon2id with a salt; only the right password verifies; the scrypt hashes
of older xae still verify and are marked for re-hashing."""

from __future__ import annotations

import time

import pytest
from argon2 import PasswordHasher
from tests.unit.fakes import scrypt_hash

from xae.auth.passwords import (
    MEMORY_KIB,
    TIME_COST,
    hash_password,
    needs_rehash,
    unknown_user_hash,
    verify_password,
)


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
    assert stored.startswith(f"$argon2id$v=19$m={MEMORY_KIB},t={TIME_COST},p=1$")
    assert not needs_rehash(stored)


def test_the_same_password_hashes_differently_each_time() -> None:
    assert hash_password("s3cret-password") != hash_password("s3cret-password")


def test_non_ascii_passwords_round_trip() -> None:
    assert verify_password("pässwörd-ü", hash_password("pässwörd-ü"))


@pytest.mark.parametrize("stored", ["", "plaintext", "md5$abc$def", "scrypt$only-two", "a$b$c$d"])
def test_a_malformed_or_foreign_stored_hash_never_verifies(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_a_scrypt_hash_of_older_xae_still_verifies_and_needs_rehashing() -> None:
    stored = scrypt_hash("s3cret-password")
    assert verify_password("s3cret-password", stored)
    assert not verify_password("s3cret-passwore", stored)
    assert needs_rehash(stored)


def test_an_argon2_hash_with_weaker_parameters_verifies_and_needs_rehashing() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("s3cret-password")
    assert verify_password("s3cret-password", weak)
    assert needs_rehash(weak)


def test_a_hash_costs_tens_of_milliseconds_like_the_unknown_user_check() -> None:
    unknown_user_hash()
    start = time.perf_counter()
    verify_password("guess", unknown_user_hash())
    unknown = time.perf_counter() - start
    start = time.perf_counter()
    hash_password("s3cret-password")
    real = time.perf_counter() - start
    # ~80 ms here; a cheap hash (a parameter typo) would take well under 10 ms.
    assert real > 0.02 and unknown > 0.02, (real, unknown)
