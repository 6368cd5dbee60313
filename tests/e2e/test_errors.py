"""Bad input gets a clear error with a stable code, and changes nothing."""

from __future__ import annotations

import io
import tarfile

import httpx
import pytest
from tests.e2e.harness import Plane

# The API's answers to bad input do not depend on the backend.
pytestmark = [pytest.mark.e2e, pytest.mark.backends("docker")]


@pytest.mark.parametrize(
    "name", ["Upper", "a.b", "..", "x;rm -rf", "a" * 31, "-lead", "trail-", "sp ace", ""]
)
def test_invalid_app_names_are_refused(plane: Plane, name: str) -> None:
    response = httpx.post(
        f"{plane.api}/v1/apps",
        json={"name": name},
        headers={"Authorization": f"Bearer {plane.token}"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_name"
    assert name not in [a["name"] for a in plane.xae_json("apps")]


def test_duplicate_app_name_is_refused(plane: Plane) -> None:
    app = plane.new_app("dup")
    result = plane.xae("apps:create", app, check=False)
    assert result.returncode == 1
    assert "already exists" in result.stderr


def test_wrong_or_missing_token_gets_401(plane: Plane) -> None:
    for headers in ({"Authorization": "Bearer xae_wrong"}, {}):
        response = httpx.get(f"{plane.api}/v1/apps", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    env = {**plane.env, "XAE_TOKEN": "xae_wrong"}
    import subprocess

    from tests.e2e.harness import BIN

    result = subprocess.run([str(BIN / "xae"), "apps"], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "xae login" in result.stderr


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info, None


@pytest.mark.parametrize(
    ("member", "fragment"),
    [
        (_file("../escape.txt", b"x"), "escape.txt"),
        (_file("/etc/evil", b"x"), "/etc/evil"),
        (_link("link", "../../etc/passwd"), "link"),
        (_link("abs", "/etc/shadow"), "abs"),
    ],
)
def test_unsafe_uploads_are_refused(
    plane: Plane, member: tuple[tarfile.TarInfo, bytes | None], fragment: str
) -> None:
    app = plane.new_app("tar")
    body = _tar([_file("index.html", b"<html>hi</html>"), member])
    response = httpx.post(
        f"{plane.api}/v1/apps/{app}/deploys",
        content=body,
        headers={"Authorization": f"Bearer {plane.token}", "Content-Type": "application/gzip"},
        timeout=60,
    )
    events = [line for line in response.text.splitlines() if line]
    assert '"event": "error"' in events[-1]
    assert "invalid_upload" in events[-1]
    assert fragment in events[-1]
    assert plane.xae_json("releases", "--app", app) == []
