"""The local CA: every app gets HTTPS at `<app>.<base domain>` without anyone buying a
certificate, once the operator trusts one CA certificate.

The CA is made once, the first time the control plane starts, in `<state dir>/ca/` (0700):
`ca.key` (0600, never leaves this machine), `ca.crt` (what clients trust: `curl --cacert`,
`update-ca-certificates`). It is valid for 10 years and name-constrained to the base domain
(RFC 5280 `nameConstraints`, critical), so even a stolen CA key cannot mint a certificate a
client accepts for any other name. A different base domain therefore needs a new CA: it is made
then (and must be trusted again), and the old one is set aside as `ca.crt.old`.

The CA issues one leaf for `*.<base domain>` and `<base domain>` (397 days, re-issued when it
has less than 30 days left, when the base domain changed, or when it is not the current CA's).
TLS clients refuse a wildcard directly under a single label (`*.localhost`: OpenSSL, browsers),
so for a one-label base domain each app also gets a leaf of its own (`app_leaf`), kept in
`ca/apps/` and re-issued the same way.

What this must never do: write a key with a mode other than 0600, or log a key.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DIR = "ca"
CA_LIFETIME = timedelta(days=3650)
LEAF_LIFETIME = timedelta(days=397)
"""The longest life browsers accept for a server certificate."""
RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class Issued:
    """A leaf the local CA issued: chain (leaf, then the CA) and key, in PEM."""

    hosts: list[str]
    chain_pem: str
    key_pem: str
    not_after: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def _write_private(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` with `data` atomically, created with `mode` (never wider)."""
    scratch = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def single_label(domain: str) -> bool:
    """Whether `domain` has one label (`localhost`): no TLS client accepts `*.<domain>`."""
    return "." not in domain.strip(".")


class LocalCA:
    """The CA in `<state dir>/ca` for `base_domain`."""

    def __init__(self, state_dir: Path, base_domain: str) -> None:
        self.dir = state_dir / CA_DIR
        self.base_domain = base_domain.lower().rstrip(".")
        self._issued_here: dict[Path, Issued] = {}
        """Leaves this process issued or read, by file stem: every certificate push asks for
        every app's leaf, and re-reading and re-verifying a thousand files each time made
        creating the thousandth app slow."""
        self._memo_lock = threading.Lock()

    @property
    def cert_path(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def _key_path(self) -> Path:
        return self.dir / "ca.key"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One process at a time makes or renews (the server and `xae-admin` may race)."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- the CA ------------------------------------------------------------------------

    def ensure(self) -> bool:
        """Make the CA unless a valid one for this base domain exists; True if it was made."""
        with self._locked():
            return self._ensure_ca()

    def _load_ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
        try:
            cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            key = serialization.load_pem_private_key(self._key_path.read_bytes(), None)
        except (FileNotFoundError, ValueError):
            return None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            return None
        return cert, key

    def _fits(self, cert: x509.Certificate) -> bool:
        try:
            constraints = cert.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            return False
        permitted = [str(n.value) for n in constraints.permitted_subtrees or []]
        return permitted == [self.base_domain] and cert.not_valid_after_utc - _now() > RENEW_BEFORE

    def _ensure_ca(self) -> bool:
        loaded = self._load_ca()
        if loaded is not None and self._fits(loaded[0]):
            return False
        if loaded is not None:
            os.replace(self.cert_path, self.cert_path.with_name("ca.crt.old"))
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "xae"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"xae local CA for {self.base_domain}"),
            ]
        )
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.NameConstraints(
                    permitted_subtrees=[x509.DNSName(self.base_domain)], excluded_subtrees=None
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        _write_private(self._key_path, _key_pem(key), 0o600)
        _write_private(self.cert_path, _cert_pem(cert), 0o644)
        return True

    def ca_pem(self) -> str:
        return self.cert_path.read_text()

    def fingerprint(self) -> str:
        cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        return cert.fingerprint(hashes.SHA256()).hex()

    # -- leaves ------------------------------------------------------------------------

    def wildcard_hosts(self) -> list[str]:
        return [f"*.{self.base_domain}", self.base_domain]

    def wildcard_leaf(self) -> Issued:
        """The leaf for `*.<base domain>` and `<base domain>`, issued or renewed as needed."""
        return self._leaf(self.dir / "leaf", self.wildcard_hosts())

    def app_leaf(self, host: str) -> Issued:
        """A leaf for one host (for a one-label base domain, where a wildcard is refused)."""
        digest = hashlib.sha256(host.encode()).hexdigest()[:24]
        return self._leaf(self.dir / "apps" / digest, [host])

    def _leaf(self, stem: Path, hosts: list[str]) -> Issued:
        with self._memo_lock:
            known = self._issued_here.get(stem)
        if (
            known is not None
            and known.hosts == hosts
            and known.not_after.replace(tzinfo=UTC) - _now() >= RENEW_BEFORE
        ):
            return known
        issued = self._leaf_from_disk(stem, hosts)
        with self._memo_lock:
            self._issued_here[stem] = issued
        return issued

    def _leaf_from_disk(self, stem: Path, hosts: list[str]) -> Issued:
        with self._locked():
            self._ensure_ca()
            ca = self._load_ca()
            assert ca is not None
            ca_cert, ca_key = ca
            current = self._read_leaf(stem, hosts, ca_cert)
            if current is not None:
                return current
            stem.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            key = ec.generate_private_key(ec.SECP256R1())
            now = _now()
            leaf = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
                .issuer_name(ca_cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(minutes=5))
                .not_valid_after(min(now + LEAF_LIFETIME, ca_cert.not_valid_after_utc))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(
                    x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False
                )
                .add_extension(
                    x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
                )
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                    critical=False,
                )
                .sign(ca_key, hashes.SHA256())
            )
            _write_private(stem.with_suffix(".key"), _key_pem(key), 0o600)
            _write_private(stem.with_suffix(".crt"), _cert_pem(leaf), 0o600)
            return self._issued(leaf, key, ca_cert, hosts)

    def _read_leaf(self, stem: Path, hosts: list[str], ca_cert: x509.Certificate) -> Issued | None:
        try:
            leaf = x509.load_pem_x509_certificate(stem.with_suffix(".crt").read_bytes())
            key = serialization.load_pem_private_key(stem.with_suffix(".key").read_bytes(), None)
            names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            leaf.verify_directly_issued_by(ca_cert)
        except (FileNotFoundError, ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
            # Missing, damaged, or issued by a CA that was replaced: issue a new one.
            return None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            return None
        if sorted(names.get_values_for_type(x509.DNSName)) != sorted(hosts):
            return None
        if leaf.not_valid_after_utc - _now() < RENEW_BEFORE:
            return None
        return self._issued(leaf, key, ca_cert, hosts)

    @staticmethod
    def _issued(
        leaf: x509.Certificate,
        key: ec.EllipticCurvePrivateKey,
        ca_cert: x509.Certificate,
        hosts: list[str],
    ) -> Issued:
        return Issued(
            hosts=list(hosts),
            chain_pem=(_cert_pem(leaf) + _cert_pem(ca_cert)).decode("ascii"),
            key_pem=_key_pem(key).decode("ascii"),
            not_after=leaf.not_valid_after_utc.replace(tzinfo=None),
        )
