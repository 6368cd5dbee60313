"""The one gate for uploaded TLS certificates: what xae checks before it stores and serves one.

A certificate reaches every client of an app's hosts, and its key sits next to every other
team's in the router, so nothing is stored that the router would refuse, serve wrongly or serve
for names the app does not own. Checked here, pure (no I/O, `now` is given): the chain parses
(leaf first), the key parses and is strong enough, the key matches the leaf, each certificate
is issued by the next one (issuer name and signature), every certificate is valid now, and the
leaf's names cover at least one of the app's hosts (the others are reported as warnings).

Host matching follows RFC 6125: names are compared case-insensitively, and a wildcard is the
whole leftmost label (`*.example.com`) and stands for exactly one label.

What this must never do: quote the key (or any part of an input that failed to parse) in an
error message, or accept an encrypted key it would have to store a password for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from xae.errors import InvalidCertificate

MAX_CHAIN_BYTES = 48 * 1024
"""The largest chain accepted (real chains are 2-6 KiB): chain and key together fit in the
API's 64 KiB JSON body limit."""
MAX_KEY_BYTES = 12 * 1024
"""An RSA 8192 key is about 6.3 KiB in PEM."""
MAX_CHAIN_CERTS = 10
RSA_MIN_BITS = 2048
RSA_MAX_BITS = 8192
"""Larger RSA keys make every handshake slow for no gain in practice."""
EC_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384"}

_BEGIN_CERT = "-----BEGIN CERTIFICATE-----"
_PRIVATE_MARK = "PRIVATE KEY-----"


@dataclass(frozen=True)
class CheckedCertificate:
    """A chain and key that passed every check, normalized (PEM re-encoded, key as PKCS#8)."""

    names: list[str]
    """The names the leaf covers (its DNS SANs, or its CN when it has none), lowercase."""
    issuer: str
    """Who issued the leaf (its issuer's CN, or the whole name when it has none)."""
    fingerprint: str
    """SHA-256 of the leaf's DER, hex."""
    not_before: datetime
    not_after: datetime
    """Naive UTC, as the store keeps times."""
    chain_pem: str
    key_pem: str
    covered: list[str]
    """The app's hosts this certificate covers."""
    uncovered: list[str]
    """The app's hosts it does not cover (a warning, not an error)."""


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _describe(cert: x509.Certificate, position: int) -> str:
    return f"certificate {position + 1} ({_subject_name(cert.subject)})"


def _subject_name(name: x509.Name) -> str:
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if cns:
        return ascii(str(cns[0].value))[1:-1][:100]
    return ascii(name.rfc4514_string())[1:-1][:200] or "no name"


def _text(data: str | bytes, what: str, limit: int) -> bytes:
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    if len(raw) > limit:
        raise InvalidCertificate(
            f"the {what} is {len(raw)} bytes; xae accepts at most {limit // 1024} KiB, so "
            "that chain and key fit in the API's 64 KiB request limit: leave out the root "
            "certificate and anything but the leaf and its intermediates"
        )
    return raw


def parse_chain(data: str | bytes) -> list[x509.Certificate]:
    """The PEM certificates in `data`, in order; refused when there are none, too many, or
    anything that does not parse (a private key pasted in by mistake is named as such)."""
    raw = _text(data, "certificate chain", MAX_CHAIN_BYTES)
    text = raw.decode("ascii", "replace")
    if _PRIVATE_MARK in text:
        raise InvalidCertificate(
            "the certificate file holds a private key: pass the key with --key and keep it "
            "out of the certificate file"
        )
    count = text.count(_BEGIN_CERT)
    if count == 0:
        raise InvalidCertificate(
            "no certificate found: give the chain in PEM (blocks starting with "
            f"'{_BEGIN_CERT}'), the leaf first, then its intermediates"
        )
    if count > MAX_CHAIN_CERTS:
        raise InvalidCertificate(
            f"the chain holds {count} certificates; xae accepts at most {MAX_CHAIN_CERTS}"
        )
    try:
        certs = x509.load_pem_x509_certificates(raw)
    except ValueError as e:
        raise InvalidCertificate(
            "the certificate chain is not valid PEM: check the file is the certificate (leaf "
            "first, then intermediates) and not cut short"
        ) from e
    if len(certs) != count:
        raise InvalidCertificate(
            f"only {len(certs)} of the {count} certificate blocks parse: check the file is "
            "not cut short or edited"
        )
    return certs


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def parse_key(data: str | bytes) -> PrivateKey:
    """The private key in `data` (PEM, unencrypted, RSA 2048-8192 or EC P-256/P-384)."""
    raw = _text(data, "private key", MAX_KEY_BYTES)
    text = raw.decode("ascii", "replace")
    if "ENCRYPTED" in text:
        raise InvalidCertificate(
            "the private key is encrypted: xae cannot store its password; decrypt it first "
            "(`openssl pkey -in KEY -out plain.key`) and upload the result"
        )
    if _PRIVATE_MARK not in text:
        raise InvalidCertificate(
            "no private key found: give the key in PEM (a block starting with "
            "'-----BEGIN PRIVATE KEY-----' or '-----BEGIN RSA/EC PRIVATE KEY-----')"
        )
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except TypeError as e:  # a password-protected key without the PEM marker
        raise InvalidCertificate(
            "the private key is encrypted: decrypt it first (`openssl pkey -in KEY -out "
            "plain.key`) and upload the result"
        ) from e
    except (ValueError, UnsupportedAlgorithm) as e:
        raise InvalidCertificate(
            "the private key is not valid PEM: check the file is the key and not cut short"
        ) from e
    if isinstance(key, rsa.RSAPrivateKey):
        if not RSA_MIN_BITS <= key.key_size <= RSA_MAX_BITS:
            raise InvalidCertificate(
                f"the RSA key has {key.key_size} bits; use {RSA_MIN_BITS} to {RSA_MAX_BITS} "
                "(or an EC P-256 key)"
            )
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in EC_CURVES:
            raise InvalidCertificate(
                f"the EC key is on curve {key.curve.name}; use P-256 or P-384, which every "
                "browser accepts"
            )
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raise InvalidCertificate(
            "Ed25519 certificates are not accepted by browsers yet: use an EC P-256 or an "
            "RSA 2048+ key"
        )
    raise InvalidCertificate(
        f"a {type(key).__name__.removeprefix('_')} key is not supported: use EC P-256/P-384 "
        "or RSA 2048+"
    )


def _spki(public: object) -> bytes:
    return public.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def cert_names(cert: x509.Certificate) -> list[str]:
    """The names `cert` covers: its DNS SANs, or (only when it has no SAN) its CN; lowercase."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        names = [str(cns[0].value)] if cns else []
    else:
        names = list(san.value.get_values_for_type(x509.DNSName))
    return sorted({name.strip().lower().rstrip(".") for name in names if name.strip()})


def name_covers(name: str, host: str) -> bool:
    """Whether the certificate name `name` covers `host` (RFC 6125, one leftmost wildcard
    label). A wildcard host (`*.example.com`, a wildcard custom domain) is covered only by
    the same wildcard name."""
    name, host = name.lower().rstrip("."), host.lower().rstrip(".")
    if name == host:
        return True
    if not name.startswith("*.") or "*" in name[2:]:
        return False
    suffix = name[1:]  # ".example.com"
    if not host.endswith(suffix):
        return False
    label = host[: -len(suffix)]
    return bool(label) and "." not in label and "*" not in label


def covers(names: Sequence[str], host: str) -> bool:
    return any(name_covers(name, host) for name in names)


def _check_times(certs: list[x509.Certificate], now: datetime) -> None:
    for position, cert in enumerate(certs):
        start, end = _utc(cert.not_valid_before_utc), _utc(cert.not_valid_after_utc)
        if now < start:
            raise InvalidCertificate(
                f"{_describe(cert, position)} is not valid yet: it starts at "
                f"{start:%Y-%m-%d %H:%M} UTC; upload it then, or check this machine's clock"
            )
        if now > end:
            raise InvalidCertificate(
                f"{_describe(cert, position)} expired at {end:%Y-%m-%d %H:%M} UTC: renew it "
                "and upload the new one"
            )


def _check_order(certs: list[x509.Certificate]) -> None:
    for position, (cert, issuer) in enumerate(zip(certs, certs[1:], strict=False)):
        wrong = InvalidCertificate(
            f"the chain is not in order: {_describe(cert, position)} is not issued by "
            f"{_describe(issuer, position + 1)}; put the leaf first, then the certificate "
            "that issued it, and so on"
        )
        if cert.issuer != issuer.subject:
            raise wrong
        try:
            cert.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm) as e:
            raise wrong from e


def check_certificate(
    chain_pem: str | bytes, key_pem: str | bytes, hosts: Sequence[str], *, now: datetime
) -> CheckedCertificate:
    """`chain_pem` and `key_pem` checked for an app serving `hosts` at `now` (naive UTC);
    raises `InvalidCertificate` saying what is wrong and what to do."""
    now = _utc(now)
    certs = parse_chain(chain_pem)
    key = parse_key(key_pem)
    leaf = certs[0]
    if _spki(leaf.public_key()) != _spki(key.public_key()):
        raise InvalidCertificate(
            f"the private key does not match the certificate ({_describe(leaf, 0)}): upload "
            "the key the certificate was issued for (the leaf must come first in the chain)"
        )
    _check_order(certs)
    _check_times(certs, now)
    names = cert_names(leaf)
    covered = [host for host in hosts if covers(names, host)]
    if not covered:
        shown = ", ".join(ascii(n)[1:-1] for n in names[:20]) or "no names"
        raise InvalidCertificate(
            f"the certificate covers none of the app's names: it is for {shown}; the app "
            f"answers at {', '.join(hosts)}; add the domain to the app first, or upload a "
            "certificate for one of its names",
            details={"certificate_names": names[:20], "app_hosts": list(hosts)},
        )
    pem = serialization.Encoding.PEM
    return CheckedCertificate(
        names=names,
        issuer=_subject_name(leaf.issuer),
        fingerprint=hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest(),
        not_before=_utc(leaf.not_valid_before_utc),
        not_after=_utc(leaf.not_valid_after_utc),
        chain_pem="".join(c.public_bytes(pem).decode("ascii") for c in certs),
        key_pem=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii"),
        covered=covered,
        uncovered=[host for host in hosts if host not in covered],
    )
