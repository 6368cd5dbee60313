"""`xae certs*`: files read and sent as PEM text, the table shows names, expiry and issuer,
oversized files are refused before anything is sent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from tests.unit.cli.cli_fakes import FakeApi
from typer.testing import Result

CERT: dict[str, Any] = {
    "id": 4,
    "names": ["shop.localhost", "www.shop.example"],
    "issuer": "Test CA",
    "fingerprint": "ab" * 32,
    "not_before": "2026-01-01T00:00:00Z",
    "not_after": "2026-04-01T00:00:00Z",
    "days_left": 12,
    "created_at": "2026-01-01T00:00:00Z",
    "created_by": "alice",
}


def test_certs_add_sends_both_files_and_shows_expiry_and_warnings(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result], tmp_path: Path
) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nBB==\n-----END PRIVATE KEY-----\n")
    fake_api.json(
        "POST",
        "/v1/apps/shop/certs",
        {"certificate": CERT, "replaced": 2, "warnings": ["does not cover x"]},
        201,
    )
    result = run("certs:add", "--app", "shop", "--cert", str(cert), "--key", str(key))
    assert result.exit_code == 0, result.output
    assert fake_api.last_json() == {"chain": cert.read_text(), "key": key.read_text()}
    assert "added certificate 4" in result.stdout and "replaces certificate 2" in result.stdout
    assert "warning: does not cover x" in result.stdout
    assert "BB==" not in result.output


def test_certs_lists_names_expiry_and_issuer(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("GET", "/v1/apps/shop/certs", [CERT, {**CERT, "id": 5, "days_left": -3}])
    result = run("certs", "--app", "shop")
    assert result.exit_code == 0, result.output
    assert "shop.localhost, www.shop.example" in result.stdout
    assert "12 days" in result.stdout and "expired" in result.stdout
    assert "Test CA" in result.stdout


def test_an_oversized_file_is_refused_before_sending(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result], tmp_path: Path
) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x" * 60_000)
    key.write_text("k")
    result = run("certs:add", "--app", "shop", "--cert", str(cert), "--key", str(key))
    assert result.exit_code == 2
    assert "64 KiB" in result.output
    assert fake_api.requests == []


def test_certs_remove_names_the_certificate(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.on("DELETE", "/v1/apps/shop/certs/4", httpx.Response(204))
    result = run("certs:remove", "4", "--app", "shop")
    assert result.exit_code == 0, result.output
    assert "removed certificate 4 from shop" in result.stdout
