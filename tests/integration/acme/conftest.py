"""A real ACME CA on loopback: Let's Encrypt's pebble, with pebble-challtestsrv as its DNS.

`scripts/pebble/build.sh` builds both from the Go module proxy (cached under /var/cache/xae;
`make test` runs it first). challtestsrv answers every name with 127.0.0.1, so pebble's HTTP-01
check connects to the `responder` fixture, a plain HTTP server on loopback holding the tokens,
in place of the router that holds them in production. pebble's own HTTPS certificate is made
here, by a throwaway CA the client is told to trust. Every process started is stopped.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[3]
CHALLENGE_PREFIX = "/.well-known/acme-challenge/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def tls_for_localhost(directory: Path) -> tuple[Path, Path, Path]:
    """(CA file, certificate, key) for pebble's HTTPS listener on 127.0.0.1."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xae test pebble CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths[0].write_bytes(_pem(ca))
    paths[1].write_bytes(_pem(leaf))
    paths[2].write_bytes(_key_pem(key))
    return paths


class Responder(ThreadingHTTPServer):
    """Answers HTTP-01 challenges from `tokens`; records what was asked."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ChallengeHandler)
        self.tokens: dict[str, str] = {}
        self.asked: list[str] = []
        self.published: list[str] = []

    def publish(self, token: str, key_authorization: str) -> None:
        self.tokens[token] = key_authorization
        self.published.append(token)

    def withdraw(self, token: str) -> None:
        self.tokens.pop(token, None)


class _ChallengeHandler(BaseHTTPRequestHandler):
    server: Responder

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.asked.append(self.path)
        answer = None
        if self.path.startswith(CHALLENGE_PREFIX):
            answer = self.server.tokens.get(self.path.removeprefix(CHALLENGE_PREFIX))
        body = (answer or "not found").encode()
        self.send_response(200 if answer else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@dataclass
class Pebble:
    directory_url: str
    ca_file: Path
    """Trust for pebble's own HTTPS listener (not for the certificates it issues)."""
    management_url: str
    responder: Responder
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def issuing_roots(self) -> list[x509.Certificate]:
        """The roots pebble signs with (made fresh at each start)."""
        reply = httpx.get(f"{self.management_url}/roots/0", verify=str(self.ca_file), timeout=10)
        reply.raise_for_status()
        return x509.load_pem_x509_certificates(reply.content)


def _wait_until_up(url: str, ca_file: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pebble exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, verify=str(ca_file), timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"pebble did not answer at {url} within 30 s: {log.read_text()[-2000:]}")


@pytest.fixture
def pebble(tmp_path: Path) -> Iterator[Pebble]:
    built = subprocess.run(
        [str(ROOT / "scripts" / "pebble" / "build.sh")], capture_output=True, text=True
    )
    if built.returncode != 0:
        pytest.fail(f"scripts/pebble/build.sh failed: {built.stderr[-2000:]}")
    bin_dir = Path(built.stdout.strip().splitlines()[-1])
    ca_file, cert, key = tls_for_localhost(tmp_path)

    responder = Responder()
    serving = threading.Thread(target=responder.serve_forever, kwargs={"poll_interval": 0.05})
    serving.start()
    dns, acme_port, management = free_port(), free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": responder.server_address[1],
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "retryAfter": {"authz": 1, "order": 1},
            "profiles": {"default": {"description": "xae tests", "validityPeriod": 7776000}},
        }
    }
    (tmp_path / "pebble.json").write_text(json.dumps(config))
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    result = Pebble(
        directory_url=f"https://127.0.0.1:{acme_port}/dir",
        ca_file=ca_file,
        management_url=f"https://127.0.0.1:{management}",
        responder=responder,
    )
    dns_log, pebble_log = tmp_path / "challtestsrv.log", tmp_path / "pebble.log"
    try:
        with dns_log.open("wb") as out:
            result.processes.append(
                subprocess.Popen(
                    [
                        str(bin_dir / "pebble-challtestsrv"),
                        "-dnsserver",
                        f"127.0.0.1:{dns}",
                        "-management",
                        f"127.0.0.1:{free_port()}",
                        "-defaultIPv4",
                        "127.0.0.1",
                        "-defaultIPv6",
                        "",
                        "-http01",
                        "",
                        "-https01",
                        "",
                        "-tlsalpn01",
                        "",
                        "-doh",
                        "",
                    ],  # fmt: skip
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        with pebble_log.open("wb") as out:
            result.processes.append(
                subprocess.Popen(
                    [
                        str(bin_dir / "pebble"),
                        "-config",
                        str(tmp_path / "pebble.json"),
                        "-dnsserver",
                        f"127.0.0.1:{dns}",
                    ],  # fmt: skip
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        _wait_until_up(result.directory_url, ca_file, result.processes[-1], pebble_log)
        yield result
    finally:
        for process in result.processes:
            process.terminate()
        for process in result.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        responder.shutdown()
        serving.join(timeout=10)
        responder.server_close()
