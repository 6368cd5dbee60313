"""Certificates from the CLI against a real plane: `certs:add`, `certs`, `certs:remove`, as a
user runs them; the key never comes back (not in any output, the audit trail or the plane's
log); a refused certificate says why; the local CA verifies with `openssl verify`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.certmaker import chain
from tests.e2e.harness import Plane

pytestmark = pytest.mark.e2e


def key_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


@pytest.mark.backends("docker")
def test_certificates_round_trip_through_the_cli(plane: Plane, tmp_path: Path) -> None:
    app = plane.new_app("tls")
    made = chain([f"{app}.localhost", f"www.{app}.example"])
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(made.chain_pem)
    key.write_text(made.leaf.key_pem)

    added = plane.xae("certs:add", "--app", app, "--cert", str(cert), "--key", str(key))
    assert f"{app}.localhost" in added.stdout and "expires" in added.stdout
    listed = plane.xae_json("certs", "--app", app)
    assert [c["names"] for c in listed] == [[f"{app}.localhost", f"www.{app}.example"]]
    assert listed[0]["issuer"] == "Test Intermediate" and listed[0]["days_left"] >= 88
    table = plane.xae("certs", "--app", app).stdout
    assert "Test Intermediate" in table and "days" in table

    other = chain(["elsewhere.example"])
    cert.write_text(other.chain_pem)
    key.write_text(other.leaf.key_pem)
    refused = plane.xae(
        "certs:add", "--app", app, "--cert", str(cert), "--key", str(key), check=False
    )
    assert refused.returncode == 1
    assert "covers none of the app's names" in refused.stderr

    plane.xae("certs:remove", str(listed[0]["id"]), "--app", app)
    assert plane.xae_json("certs", "--app", app) == []

    audit = plane.xae("audit", "--app", app, "--json").stdout
    assert "cert.add" in audit and "cert.remove" in audit
    log = (plane.state_dir / "logs" / "xae.log").read_text(errors="replace")
    everything = added.stdout + added.stderr + table + audit + refused.stderr + log
    for line in key_lines(made.leaf.key_pem) + key_lines(other.leaf.key_pem):
        assert line not in everything


@pytest.mark.backends("docker")
def test_status_says_how_to_trust_the_local_ca_and_it_verifies(
    plane: Plane, tmp_path: Path
) -> None:
    status = plane.xae("status", check=False).stdout
    assert (
        "local CA:" in status and "curl --cacert" in status and "update-ca-certificates" in status
    )
    ca = tmp_path / "xae-ca.crt"
    ca.write_text(plane.xae("certs:ca").stdout)
    # The plane's own leaf, as the router will serve it, verifies against what the CLI printed.
    leaf = next((plane.state_dir / "ca").glob("leaf.crt"))
    result = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), str(leaf)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
