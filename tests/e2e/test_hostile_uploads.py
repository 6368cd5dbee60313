"""Issue 7, findings 1 and 14, played against the running plane.

Finding 1: a tenant's tarball whose links only lead out of the tree once the whole archive is in
place (`up -> s/s/../..`, then `s -> .`) made the build preparation, as root, create a file
where the tenant chose, append to a host file and quote the admin password in a Procfile error.
The crafted archive is posted straight to the API, as an attacker would, and the host files it
aims at are checked afterwards.

Finding 14: the static stack served `/.env`, xae's `.dockerignore` and `app.json`.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.e2e.harness import Plane, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.backends("docker")]

CANARY = "canary: nobody may append to this file\n"
SECRET = "host-secret-7d1e0c9b-never-in-a-response"


def _member(name: str, *, data: bytes | None = None, link: str | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    if link is not None:
        info.type, info.linkname = tarfile.SYMTYPE, link
    else:
        info.size, info.mode = len(data or b""), 0o644
    return info


def _chain_archive(
    created: Path, canary: Path, secret: Path, admin_password: Path, depth: int
) -> bytes:
    """The archive of the report: every link below looks inside the tree until `s` arrives.

    `depth` must reach `/` from the build dir, yet stay well under the kernel's 40 links per
    lookup, or the old code would have been saved by ELOOP rather than by a check.
    """
    up = "s/" * depth + "/".join([".."] * depth)  # `/` once `s -> .` exists
    files = {
        "pyproject.toml": b'[project]\nname = "x"\ndependencies = ["tenant-controlled"]\n',
        "app.py": b"print('hi')\n",
    }
    links = {
        "up": up,
        ".xae.Dockerfile": "up" + str(created),
        ".dockerignore": "up" + str(canary),
        "Procfile": "up" + str(admin_password),
        "requirements.txt": "up" + str(secret),
        "s": ".",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            tar.addfile(_member(name, data=data), io.BytesIO(data))
        for name, target in links.items():
            tar.addfile(_member(name, link=target))
    return buffer.getvalue()


def test_a_link_chain_in_an_upload_touches_nothing_on_the_host(
    plane: Plane, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    canary = host / "canary.log"
    canary.write_text(CANARY)
    secret = host / "secret.txt"
    secret.write_text(SECRET + "\n")
    created = host / "created-by-tenant"
    admin_password = plane.state_dir / "admin-password"
    app = plane.new_app("chain")

    response = httpx.post(
        f"{plane.api}/v1/apps/{app}/deploys",
        # The source lands in <state>/builds/<app>/<tmp>/src: four levels below the state dir.
        content=_chain_archive(
            created, canary, secret, admin_password, depth=len(plane.state_dir.parts) + 4
        ),
        headers={"Authorization": f"Bearer {plane.token}", "Content-Type": "application/gzip"},
        timeout=120,
    )

    events = [line for line in response.text.splitlines() if line]
    assert events, f"no answer: HTTP {response.status_code}"
    last = events[-1]
    assert '"event": "error"' in last and "invalid_upload" in last
    assert "archive entry 'up'" in last and "points outside the upload" in last
    assert canary.read_text() == CANARY
    assert not created.exists()
    assert sorted(p.name for p in host.iterdir()) == ["canary.log", "secret.txt"]
    assert SECRET not in response.text
    if admin_password.exists():
        password = admin_password.read_text().strip()
        assert password and password not in response.text
    assert plane.xae_json("releases", "--app", app) == []
    builds = plane.state_dir / "builds" / app
    assert not builds.exists() or list(builds.iterdir()) == [], "the refused tree was left"


def test_the_static_stack_serves_no_dotfiles_or_xae_files(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    source = app_source("static")
    (source / ".env").write_text("SECRET_KEY=not-for-the-public\n")
    # Valid manifests (the build reads them) holding a default that must stay private.
    (source / "app.json").write_text('{"env": {"SECRET_KEY": {"value": "not-for-the-public"}}}\n')
    (source / "xae.yaml").write_text("env:\n  SECRET_KEY:\n    value: not-for-the-public\n")
    (source / "Procfile").write_text("web: serve-static\n")
    (source / "docs").mkdir()
    (source / "docs" / ".env").write_text("SECRET_KEY=not-for-the-public\n")
    (source / "docs" / "page.html").write_text("<p>a page</p>\n")
    (source / ".well-known").mkdir()
    (source / ".well-known" / "x").write_text("well-known content\n")
    app = plane.new_app("dots")
    plane.deploy(app, source)
    wait_for(lambda: plane.serving(app, "<html"), 60, f"{app} to serve index.html")

    for path in (
        "/.env",
        "/app.json",
        "/Procfile",
        "/xae.yaml",
        "/.dockerignore",
        "/.xae.Dockerfile",
        "/docs/.env",
        "/.well-known/../.env",
    ):
        response = plane.get(app, path)
        assert response.status_code == 404, path
        assert "not-for-the-public" not in response.text, path
    assert plane.get(app, "/").status_code == 200
    assert plane.get(app, "/docs/page.html").text == "<p>a page</p>\n"
    well_known = plane.get(app, "/.well-known/x")
    assert well_known.status_code == 200
    assert well_known.text == "well-known content\n"
