"""Hostile names sent through the real CLI and API are refused and create nothing: no app, no
container, no router file, and no command run; over-size bodies are refused by the real server.

The unit tests (`tests/unit/api/test_api_boundary.py`) cover every route and every hostile
value; this proves the same on the running plane, where a name that slipped through would
reach Docker, nginx and the file system.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from tests.e2e.harness import Plane

# The API's answers to bad input do not depend on the backend.
pytestmark = [pytest.mark.e2e, pytest.mark.backends("docker")]


def _payloads(marker: str) -> list[str]:
    return [
        f"{marker};touch /tmp/{marker}",
        f"{marker}$(touch /tmp/{marker})",
        f"{marker}`touch /tmp/{marker}`",
        f"{marker}\nserver {{ listen 1; }}",
        f"{marker}}}",
        f"../{marker}",
        f"{marker}\x00",
        marker + "x" * 10_000,
        f"\u0430{marker}",  # Cyrillic 'а' in front
        f"{marker}\u200d",  # zero-width joiner
        f"\u202e{marker}",  # right-to-left override
    ]


def _containers(plane: Plane) -> list[str]:
    result = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label=xae.plane={plane.name}", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [line for line in result.stdout.splitlines() if line.strip()]


def _router_files(plane: Plane) -> dict[str, str]:
    router = plane.state_dir / "router"
    return {
        str(p.relative_to(router)): p.read_text(errors="replace")
        for p in router.rglob("*.conf")
        if p.is_file()
    }


@pytest.fixture
def marker(plane: Plane) -> Iterator[str]:
    """A string no legitimate object contains; nothing may carry it after the test."""
    value = f"pwn{secrets.token_hex(4)}"
    before = {a["name"] for a in plane.xae_json("apps")}
    yield value
    # Only the apps the test made on purpose (with valid names) are new.
    assert {a["name"] for a in plane.xae_json("apps")} <= before | set(plane.apps)
    assert not any(value in line for line in _containers(plane))
    assert not any(value in path or value in text for path, text in _router_files(plane).items())
    assert not Path(f"/tmp/{value}").exists()  # no shell ever ran a payload


def test_hostile_app_names_are_refused_by_the_cli_and_the_api(plane: Plane, marker: str) -> None:
    auth = {"Authorization": f"Bearer {plane.token}"}
    for name in _payloads(marker):
        if "\x00" not in name:  # an argv cannot carry a NUL
            result = plane.xae("apps:create", name, check=False)
            assert result.returncode != 0
            assert "lowercase letters, digits and single dashes" in result.stderr or (
                "use at most 30" in result.stderr
            )
        response = httpx.post(f"{plane.api}/v1/apps", json={"name": name}, headers=auth)
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] in ("invalid_name", "invalid_input")
        # The name comes back escaped and short: no raw newline, NUL or look-alike.
        assert error["message"].isascii() and error["message"].isprintable()
        assert len(error["message"]) < 800
        if "/" not in name:
            info = httpx.get(f"{plane.api}/v1/apps/{quote(name, safe='')}", headers=auth)
            assert info.status_code == 422
            assert info.json()["error"]["code"] == "invalid_name"


def test_hostile_keys_and_types_on_a_real_app_change_nothing(plane: Plane, marker: str) -> None:
    app = plane.new_app("hostile")
    auth = {"Authorization": f"Bearer {plane.token}"}
    before = plane.xae_json("releases", "--app", app)
    for value in _payloads(marker):
        config = httpx.patch(f"{plane.api}/v1/apps/{app}/config", json={value: "1"}, headers=auth)
        assert config.status_code == 422, config.text
        logs = httpx.get(f"{plane.api}/v1/apps/{app}/logs", params={"process": value}, headers=auth)
        assert logs.status_code == 422, logs.text
        if not value.startswith("../"):  # `/../x` is a valid request path, sent as one
            health = httpx.patch(
                f"{plane.api}/v1/apps/{app}", json={"health_path": f"/{value}"}, headers=auth
            )
            assert health.status_code == 422, health.text
    result = plane.xae("config:set", f"{marker};id=1", "--app", app, check=False)
    assert result.returncode != 0
    assert plane.xae_json("releases", "--app", app) == before
    assert plane.xae_json("config", "--app", app) == {}


def test_a_real_over_size_body_is_413_by_length_and_when_chunked(plane: Plane) -> None:
    app = plane.new_app("big")
    auth = {"Authorization": f"Bearer {plane.token}", "Content-Type": "application/json"}
    body = json.dumps({f"K{i}": "x" * 1000 for i in range(1000)}).encode()  # ~1 MiB
    url = f"{plane.api}/v1/apps/{app}/config"

    by_length = httpx.patch(url, content=body, headers=auth)
    assert by_length.status_code == 413
    assert by_length.json()["error"]["code"] == "body_too_large"

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    chunked = httpx.patch(url, content=chunks(), headers=auth)
    assert "content-length" not in chunked.request.headers
    assert chunked.status_code == 413
    assert chunked.json()["error"]["code"] == "body_too_large"
    assert plane.xae_json("config", "--app", app) == {}
    assert plane.xae_json("releases", "--app", app) == []
