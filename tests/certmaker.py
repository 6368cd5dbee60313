"""Certificates made in the tests, with `cryptography`: a CA, intermediates and leaves with the
names, keys and validity a test needs (nothing is read from disk or the network)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Made:
    cert: x509.Certificate
    key: Key

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return key_pem(self.key)


def key_pem(key: Key, password: bytes | None = None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make(
    cn: str,
    *,
    names: list[str] | None = None,
    issuer: Made | None = None,
    key: Key | None = None,
    ca: bool = False,
    start: datetime | None = None,
    days: int = 90,
) -> Made:
    """A certificate for `cn` (SANs `names`, none when None), signed by `issuer` (self-signed
    without one), valid from `start` (an hour ago by default) for `days`."""
    key = key or ec_key()
    start = start or datetime.now(UTC) - timedelta(hours=1)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    signer = issuer.key if issuer else key
    return Made(builder.sign(signer, hashes.SHA256()), key)


@dataclass(frozen=True)
class Chain:
    root: Made
    intermediate: Made
    leaf: Made

    @property
    def chain_pem(self) -> str:
        """Leaf, then the intermediate (the root is left out, as servers do)."""
        return self.leaf.cert_pem + self.intermediate.cert_pem


def chain(names: list[str], **leaf: object) -> Chain:
    """A root, an intermediate and a leaf for `names`."""
    root = make("Test Root", ca=True, days=3650)
    intermediate = make("Test Intermediate", issuer=root, ca=True, days=1800)
    return Chain(root, intermediate, make(names[0], names=names, issuer=intermediate, **leaf))  # type: ignore[arg-type]
