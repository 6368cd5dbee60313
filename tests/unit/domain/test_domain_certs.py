"""The certificate gate: every refusal, with certificates made in the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from tests.certmaker import chain, key_pem, make

from xae.domain.certs import (
    MAX_CHAIN_CERTS,
    check_certificate,
    name_covers,
)
from xae.errors import InvalidCertificate

HOSTS = ["shop.xae.test", "www.shop.example"]


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def refused(chain_pem: str, key: str, hosts: list[str] = HOSTS) -> str:
    with pytest.raises(InvalidCertificate) as e:
        check_certificate(chain_pem, key, hosts, now=now())
    return e.value.message


def test_a_chain_in_order_with_its_key_is_accepted_and_normalized() -> None:
    c = chain(["shop.xae.test", "www.shop.example"])
    checked = check_certificate(c.chain_pem, c.leaf.key_pem, HOSTS, now=now())
    assert checked.names == ["shop.xae.test", "www.shop.example"]
    assert checked.issuer == "Test Intermediate"
    assert checked.covered == HOSTS and checked.uncovered == []
    assert checked.chain_pem.count("BEGIN CERTIFICATE") == 2
    assert checked.key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert len(checked.fingerprint) == 64
    assert checked.not_after > now()


def test_names_it_does_not_cover_are_a_warning() -> None:
    c = chain(["*.xae.test"])
    checked = check_certificate(c.chain_pem, c.leaf.key_pem, HOSTS, now=now())
    assert checked.covered == ["shop.xae.test"]
    assert checked.uncovered == ["www.shop.example"]


def test_a_certificate_for_none_of_the_apps_names_is_refused_listing_both() -> None:
    c = chain(["other.example", "*.other.example"])
    message = refused(c.chain_pem, c.leaf.key_pem)
    assert "covers none of the app's names" in message
    assert "other.example" in message and "shop.xae.test" in message


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ],
)
def test_malformed_chains_are_refused(text: str) -> None:
    message = refused(text, make("x").key_pem)
    assert "PEM" in message or "no certificate" in message


def test_a_cut_short_chain_is_refused() -> None:
    c = chain(["shop.xae.test"])
    pem = c.chain_pem
    cut = pem[: len(pem) - 200] + "\n-----END CERTIFICATE-----\n"
    assert "PEM" in refused(cut, c.leaf.key_pem) or "blocks" in refused(cut, c.leaf.key_pem)


def test_a_malformed_key_is_refused_without_quoting_it() -> None:
    c = chain(["shop.xae.test"])
    secret = "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n"
    message = refused(c.chain_pem, secret)
    assert "not valid PEM" in message
    assert "TOPSECRET" not in message


def test_a_key_pasted_into_the_certificate_file_is_named() -> None:
    c = chain(["shop.xae.test"])
    message = refused(c.chain_pem + c.leaf.key_pem, c.leaf.key_pem)
    assert "holds a private key" in message
    assert c.leaf.key_pem.splitlines()[1] not in message


def test_a_key_that_does_not_match_the_leaf_is_refused() -> None:
    c = chain(["shop.xae.test"])
    assert "does not match" in refused(c.chain_pem, make("x").key_pem)


def test_the_intermediate_first_is_refused_as_a_mismatch() -> None:
    c = chain(["shop.xae.test"])
    # The leaf's key with the intermediate in front: the leaf is not first.
    message = refused(c.intermediate.cert_pem + c.leaf.cert_pem, c.leaf.key_pem)
    assert "does not match" in message and "leaf must come first" in message


def test_a_chain_out_of_order_is_refused() -> None:
    c = chain(["shop.xae.test"])
    message = refused(c.leaf.cert_pem + c.root.cert_pem + c.intermediate.cert_pem, c.leaf.key_pem)
    assert "not in order" in message


def test_an_intermediate_with_the_right_name_but_another_key_is_refused() -> None:
    c = chain(["shop.xae.test"])
    impostor = make("Test Intermediate", issuer=c.root, ca=True)
    message = refused(c.leaf.cert_pem + impostor.cert_pem, c.leaf.key_pem)
    assert "not in order" in message


def test_an_expired_certificate_is_refused() -> None:
    c = chain(["shop.xae.test"], start=datetime.now(UTC) - timedelta(days=100), days=90)
    assert "expired" in refused(c.chain_pem, c.leaf.key_pem)


def test_a_certificate_not_valid_yet_is_refused() -> None:
    c = chain(["shop.xae.test"], start=datetime.now(UTC) + timedelta(days=2))
    assert "not valid yet" in refused(c.chain_pem, c.leaf.key_pem)


def test_an_expired_intermediate_is_refused() -> None:
    root = make("Root", ca=True, days=3650)
    old = make(
        "Old Intermediate",
        issuer=root,
        ca=True,
        start=datetime.now(UTC) - timedelta(days=30),
        days=10,
    )
    leaf = make("shop.xae.test", names=["shop.xae.test"], issuer=old)
    message = refused(leaf.cert_pem + old.cert_pem, leaf.key_pem)
    assert "certificate 2" in message and "expired" in message


def test_an_encrypted_key_is_refused_saying_to_decrypt_it() -> None:
    c = chain(["shop.xae.test"])
    message = refused(c.chain_pem, key_pem(c.leaf.key, b"hunter2-password"))
    assert "encrypted" in message and "openssl pkey" in message


@pytest.mark.parametrize(
    ("key", "why"),
    [
        (lambda: rsa.generate_private_key(65537, 1024), "1024 bits"),
        (lambda: ec.generate_private_key(ec.SECP521R1()), "secp521r1"),
    ],
)
def test_weak_or_unusual_keys_are_refused(key, why: str) -> None:  # type: ignore[no-untyped-def]
    made = make("shop.xae.test", names=["shop.xae.test"], key=key())
    assert why in refused(made.cert_pem, made.key_pem)


def test_an_ed25519_key_is_refused_saying_what_to_use() -> None:
    from cryptography.hazmat.primitives import serialization

    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    c = chain(["shop.xae.test"])
    assert "P-256" in refused(c.chain_pem, pem)


def test_an_rsa_2048_key_is_accepted() -> None:
    made = make("shop.xae.test", names=["shop.xae.test"], key=rsa.generate_private_key(65537, 2048))
    checked = check_certificate(made.cert_pem, made.key_pem, HOSTS, now=now())
    assert checked.covered == ["shop.xae.test"]


def test_an_oversized_chain_is_refused_naming_the_request_limit() -> None:
    c = chain(["shop.xae.test"])
    message = refused(c.chain_pem + "#" * 50_000, c.leaf.key_pem)
    assert "64 KiB" in message


def test_too_many_certificates_are_refused() -> None:
    c = chain(["shop.xae.test"])
    message = refused(c.chain_pem + c.root.cert_pem * MAX_CHAIN_CERTS, c.leaf.key_pem)
    assert f"at most {MAX_CHAIN_CERTS}" in message


def test_the_common_name_counts_only_without_a_san() -> None:
    plain = make("shop.xae.test")  # no SAN
    assert check_certificate(plain.cert_pem, plain.key_pem, HOSTS, now=now()).names == [
        "shop.xae.test"
    ]
    other = make("shop.xae.test", names=["else.example"])
    assert "covers none" in refused(other.cert_pem, other.key_pem)


@pytest.mark.parametrize(
    ("name", "host", "covered"),
    [
        ("shop.xae.test", "shop.xae.test", True),
        ("SHOP.xae.test", "shop.XAE.test.", True),
        ("*.xae.test", "shop.xae.test", True),
        ("*.xae.test", "a.shop.xae.test", False),
        ("*.xae.test", "xae.test", False),
        ("*.shop.xae.test", "shop.xae.test", False),
        ("s*.xae.test", "shop.xae.test", False),
        ("*.*.test", "a.b.test", False),
        ("*.xae.test", "*.xae.test", True),
        ("shop.xae.test", "*.xae.test", False),
        ("*.xae.test", ".xae.test", False),
    ],
)
def test_wildcards_follow_rfc_6125(name: str, host: str, covered: bool) -> None:
    assert name_covers(name, host) is covered
