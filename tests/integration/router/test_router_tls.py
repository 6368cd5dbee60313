"""HTTPS on the router: certificates chosen by SNI, set at run time, against a real nginx + Lua.

The certificates are made here with `cryptography`: a CA of the test's own, a leaf for an exact
name and one for a wildcard; clients verify against that CA only.
"""

from __future__ import annotations

import datetime
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.integration.router.router_harness import Backend, kill_leftover_master

from xae.config import Settings
from xae.errors import InvalidInput
from xae.router import NginxRouter, Route
from xae.router.base import Certificate
from xae.router.control import certificate_digests

pytestmark = pytest.mark.integration

StartBackend = Callable[..., Backend]


@dataclass
class Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    file: Path

    def issue(self, name: str, *hosts: str) -> Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), False)
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return Certificate(
            name, list(hosts), cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem
        )


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xae test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    file = tmp_path / "ca.pem"
    file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Authority(key, cert, file)


def https_get(settings: Settings, ca: Path, host: str, path: str = "/") -> httpx.Response:
    """GET https://host/path through the router's TLS port, SNI `host`, verified against `ca`."""
    with httpx.Client(verify=str(ca), timeout=10) as client:
        return client.get(
            f"https://127.0.0.1:{settings.tls_port}{path}",
            headers={"Host": host},
            extensions={"sni_hostname": host},
        )


def test_https_by_sni_exact_then_wildcard_set_without_a_reload(
    router: NginxRouter, backend: StartBackend, settings: Settings, authority: Authority
) -> None:
    web, shop = backend("web", "127.0.0.2"), backend("shop", "127.0.0.3")
    router.apply(
        [
            Route("web", ["secure.localhost"], [web.address]),
            Route("shop", ["*.shops.localhost"], [shop.address]),
        ]
    )
    status = router.status()
    assert status.pid is not None
    config = router.paths.conf.read_text()
    router.set_certificates(
        [
            authority.issue("exact", "secure.localhost"),
            authority.issue("wild", "*.shops.localhost"),
        ]
    )
    assert router.paths.conf.read_text() == config  # no new config, no reload
    reply = https_get(settings, authority.file, "secure.localhost", "/x")
    assert reply.status_code == 200 and reply.json()["name"] == "web"
    assert reply.json()["headers"]["x-forwarded-proto"] == "https"
    assert https_get(settings, authority.file, "a.shops.localhost").json()["name"] == "shop"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        https_get(settings, authority.file, "a.b.shops.localhost")  # one level only
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        https_get(settings, authority.file, "other.localhost")

    router.set_certificates([authority.issue("wild", "*.shops.localhost")])
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        https_get(settings, authority.file, "secure.localhost")


def test_tls_speaks_h2_and_only_tls_1_2_or_later(
    router: NginxRouter, backend: StartBackend, settings: Settings, authority: Authority
) -> None:
    router.apply([Route("web", ["secure.localhost"], [backend("web").address])])
    router.set_certificates([authority.issue("exact", "secure.localhost")])
    context = ssl.create_default_context(cafile=str(authority.file))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", settings.tls_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="secure.localhost") as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(cafile=str(authority.file))
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    with (
        socket.create_connection(("127.0.0.1", settings.tls_port), timeout=5) as raw,
        pytest.raises(ssl.SSLError),
    ):
        old.wrap_socket(raw, server_hostname="secure.localhost")


def test_redirect_https_lands_on_the_tls_listener(
    router: NginxRouter, backend: StartBackend, settings: Settings, authority: Authority
) -> None:
    web = backend("web")
    router.apply([Route("web", ["secure.localhost"], [web.address], redirect_https=True)])
    router.set_certificates([authority.issue("exact", "secure.localhost")])
    reply = https_get(settings, authority.file, "secure.localhost", "/after")
    assert reply.status_code == 200 and reply.json()["path"] == "/after"


def test_certificates_survive_a_sigkilled_master_and_keys_stay_private(
    router: NginxRouter, backend: StartBackend, settings: Settings, authority: Authority
) -> None:
    web = backend("web")
    router.apply([Route("web", ["secure.localhost"], [web.address])])
    cert = authority.issue("exact", "secure.localhost")
    router.set_certificates([cert])
    kill_leftover_master(router)
    router.start()
    assert https_get(settings, authority.file, "secure.localhost").json()["name"] == "web"
    assert router.paths.certificates.stat().st_mode & 0o077 == 0
    key_line = cert.key_pem.splitlines()[1]
    for log in (router.paths.error_log, router.paths.access_log):
        assert key_line not in (log.read_text() if log.exists() else "")


def test_a_bad_certificate_is_refused_without_quoting_the_key(
    router: NginxRouter, authority: Authority
) -> None:
    good = authority.issue("exact", "secure.localhost")
    with pytest.raises(InvalidInput) as error:
        router.set_certificates([Certificate("bad", ["x.localhost"], "garbage", good.key_pem)])
    assert good.key_pem.splitlines()[1] not in error.value.message
    with pytest.raises(InvalidInput, match="in certificates"):
        router.set_certificates(
            [good, Certificate("two", good.hosts, good.chain_pem, good.key_pem)]
        )


def test_a_change_sends_only_the_difference_and_the_rest_keeps_serving(
    router: NginxRouter,
    backend: StartBackend,
    settings: Settings,
    authority: Authority,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    web = backend("web")
    hosts = [f"app{i}.localhost" for i in range(20)]
    router.apply([Route("web", [*hosts, "moved.localhost"], [web.address])])
    certs = [authority.issue(f"c{i}", host) for i, host in enumerate(hosts)]
    router.set_certificates([*certs, authority.issue("mover", "moved.localhost")])

    sent: list[tuple[int, list[str]]] = []
    original = router.control.set_certificates

    def recording(
        full: Sequence[Certificate],
        *,
        changed: Sequence[Certificate] | None = None,
        removed: Sequence[str] = (),
    ) -> None:
        sent.append((len(full if changed is None else changed), list(removed)))
        original(full, changed=changed, removed=removed)

    monkeypatch.setattr(router.control, "set_certificates", recording)
    # One certificate added, one replaced (it takes over a host another one had), one removed.
    renewed = authority.issue("c1", "app1.localhost", "moved.localhost")
    later = [certs[0], renewed, *certs[3:], authority.issue("extra", "extra.localhost")]
    router.set_certificates(later)
    assert sent == [(2, ["c2", "mover"])]
    assert router.control.certificates() == certificate_digests(later)
    assert https_get(settings, authority.file, "moved.localhost").json()["name"] == "web"
    assert https_get(settings, authority.file, "app0.localhost").json()["name"] == "web"
    assert https_get(settings, authority.file, "app19.localhost").json()["name"] == "web"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        https_get(settings, authority.file, "app2.localhost")  # its certificate was removed
    router.set_certificates(later)  # nothing changed: nothing sent
    assert len(sent) == 1
