"""The local CA: made once, 0600 key in a 0700 dir, name-constrained to the base domain; its
leaf verifies with `openssl verify` (the real tool) for app hosts, and is renewed and
re-issued when it must be."""

from __future__ import annotations

import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from tests.certmaker import ec_key

from xae.control import localca
from xae.control.localca import LocalCA


def openssl_verify(
    ca: Path, chain_pem: str, host: str, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(chain_pem)
    return subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), "-verify_hostname", host, str(leaf)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_the_ca_is_made_once_with_private_files(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path, "xae.test")
    assert ca.ensure() is True
    assert ca.ensure() is False
    assert stat.S_IMODE((tmp_path / "ca").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(ca.cert_path.read_bytes())
    assert cert.not_valid_after_utc - datetime.now(UTC) > timedelta(days=3640)
    constraints = cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert [n.value for n in constraints.value.permitted_subtrees or []] == ["xae.test"]


def test_the_wildcard_leaf_verifies_against_the_ca_for_app_hosts(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path, "xae.test")
    leaf = ca.wildcard_leaf()
    assert leaf.hosts == ["*.xae.test", "xae.test"]
    for host in ("shop.xae.test", "xae.test"):
        result = openssl_verify(ca.cert_path, leaf.chain_pem, host, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
    wrong = openssl_verify(ca.cert_path, leaf.chain_pem, "a.shop.xae.test", tmp_path)
    assert wrong.returncode != 0
    key = serialization.load_pem_private_key(leaf.key_pem.encode(), None)
    cert = x509.load_pem_x509_certificate(leaf.chain_pem.encode())
    assert key.public_key() == cert.public_key()


def test_a_leaf_the_ca_key_signs_for_another_domain_is_refused(tmp_path: Path) -> None:
    """The name constraint: even with the CA's key, no name outside the base domain."""
    ca = LocalCA(tmp_path, "xae.test")
    ca.ensure()
    ca_cert = x509.load_pem_x509_certificate(ca.cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key((tmp_path / "ca" / "ca.key").read_bytes(), None)
    key = ec_key()
    now = datetime.now(UTC)
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bank.example")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("bank.example")]), False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    pem = forged.public_bytes(serialization.Encoding.PEM).decode()
    result = openssl_verify(ca.cert_path, pem, "bank.example", tmp_path)
    assert result.returncode != 0
    assert "permitted subtree violation" in result.stdout + result.stderr


def test_one_label_base_domains_get_a_leaf_per_host(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path, "localhost")
    # No TLS client accepts `*.localhost`: each app host gets its own leaf.
    wildcard = ca.wildcard_leaf()
    assert openssl_verify(ca.cert_path, wildcard.chain_pem, "shop.localhost", tmp_path).returncode
    leaf = ca.app_leaf("shop.localhost")
    result = openssl_verify(ca.cert_path, leaf.chain_pem, "shop.localhost", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ca.app_leaf("shop.localhost") == leaf  # kept, not issued again


def test_a_leaf_is_renewed_with_less_than_30_days_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = LocalCA(tmp_path, "xae.test")
    first = ca.wildcard_leaf()
    assert ca.wildcard_leaf() == first
    later = datetime.now(UTC) + localca.LEAF_LIFETIME - timedelta(days=29)
    monkeypatch.setattr(localca, "_now", lambda: later)
    renewed = ca.wildcard_leaf()
    assert renewed.not_after > first.not_after
    assert renewed.key_pem != first.key_pem


def test_another_base_domain_makes_a_new_ca_and_leaf(tmp_path: Path) -> None:
    before = LocalCA(tmp_path, "xae.test")
    old_leaf = before.wildcard_leaf()
    old_ca = before.cert_path.read_bytes()
    after = LocalCA(tmp_path, "apps.example.internal")
    leaf = after.wildcard_leaf()
    assert leaf.hosts == ["*.apps.example.internal", "apps.example.internal"]
    assert after.cert_path.read_bytes() != old_ca
    assert (tmp_path / "ca" / "ca.crt.old").read_bytes() == old_ca
    result = openssl_verify(after.cert_path, leaf.chain_pem, "shop.apps.example.internal", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert leaf != old_leaf
