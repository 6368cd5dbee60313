"""Let's Encrypt's test ACME CA, pebble, on loopback, for the ACME tests (integration and e2e).

`scripts/pebble/build.sh` builds pebble and pebble-challtestsrv from the Go module proxy
(cached under /var/cache/xae; `make test` runs it first). challtestsrv is pebble's DNS and
answers every name with 127.0.0.1, so pebble's HTTP-01 check connects to 127.0.0.1 on the
`http_port` given: the xae router in the e2e tests, a plain responder in the integration tests.
pebble's own HTTPS certificate is made here by a throwaway CA the client is told to trust.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[1]


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


@dataclass
class Pebble:
    directory_url: str
    ca_file: Path
    """Trust for pebble's own HTTPS listener (not for the certificates it issues)."""
    management_url: str

    def issuing_roots(self) -> list[x509.Certificate]:
        """The roots pebble signs with (made fresh at each start)."""
        reply = httpx.get(f"{self.management_url}/roots/0", verify=str(self.ca_file), timeout=10)
        reply.raise_for_status()
        return x509.load_pem_x509_certificates(reply.content)


def pebble_bin_dir() -> Path:
    built = subprocess.run(
        [str(ROOT / "scripts" / "pebble" / "build.sh")], capture_output=True, text=True
    )
    if built.returncode != 0:
        raise RuntimeError(f"scripts/pebble/build.sh failed: {built.stderr[-2000:]}")
    return Path(built.stdout.strip().splitlines()[-1])


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


@contextlib.contextmanager
def running_pebble(directory: Path, http_port: int) -> Iterator[Pebble]:
    """pebble (checking HTTP-01 on 127.0.0.1:`http_port`) and its DNS, stopped on exit."""
    bin_dir = pebble_bin_dir()
    directory.mkdir(parents=True, exist_ok=True)
    ca_file, cert, key = tls_for_localhost(directory)
    dns, acme_port, management = free_port(), free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "retryAfter": {"authz": 1, "order": 1},
            "profiles": {"default": {"description": "xae tests", "validityPeriod": 7776000}},
        }
    }
    (directory / "pebble.json").write_text(json.dumps(config))
    # No reuse of recent authorizations: every order proves its names over HTTP again.
    env = {
        **os.environ,
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_WFE_NONCEREJECT": "0",
        "PEBBLE_AUTHZREUSE": "0",
    }
    result = Pebble(
        directory_url=f"https://127.0.0.1:{acme_port}/dir",
        ca_file=ca_file,
        management_url=f"https://127.0.0.1:{management}",
    )
    processes: list[subprocess.Popen[bytes]] = []
    dns_log, pebble_log = directory / "challtestsrv.log", directory / "pebble.log"
    try:
        with dns_log.open("wb") as out:
            processes.append(
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
            processes.append(
                subprocess.Popen(
                    [
                        str(bin_dir / "pebble"),
                        "-config",
                        str(directory / "pebble.json"),
                        "-dnsserver",
                        f"127.0.0.1:{dns}",
                    ],  # fmt: skip
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        _wait_until_up(result.directory_url, ca_file, processes[-1], pebble_log)
        yield result
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
