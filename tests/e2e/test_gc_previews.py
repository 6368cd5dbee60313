"""Reclaiming resources and preview apps, end to end on a real plane, as a user drives them.

GC: every deploy collects its app's images beyond the kept releases (the plane keeps 5), so a
busy app holds exactly 5 images on the engine; a rollback to a collected release fails saying
so and the current release keeps serving; `xae status` shows the disk xae uses.

Previews: with previews on, a branch (`Feature/Login_Page!`) gets its own app through the API
a push uses, `xae deploy` deploys into it, the router serves it at its own name while the
parent keeps serving its own page; removing the branch destroys it; the control plane's reaper
destroys a preview left idle longer than the parent allows."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.harness import Plane, wait_for

pytestmark = [pytest.mark.e2e]

KEEP = 5
"""The plane's `keep_release_images` (the default)."""


def page(text: str) -> str:
    return f"<!doctype html><html><body><h1>{text}</h1></body></html>\n"


def app_images(plane: Plane, app: str) -> list[str]:
    out = subprocess.run(
        [
            "docker",
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "--filter",
            f"label=xae.plane={plane.name}",
            "--filter",
            f"label=xae.app={app}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(line for line in out.splitlines() if line.startswith(f"xae/app-{app}:"))


def registry_tags(plane: Plane, app: str) -> list[str]:
    """The app's tags in the cluster's registry whose manifest is still there."""
    base = f"http://{plane.env['XAE_REGISTRY']}/v2/xae/app-{app}"
    listed = httpx.get(f"{base}/tags/list", timeout=10)
    if listed.status_code == 404:
        return []
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    return sorted(
        tag
        for tag in listed.json().get("tags") or []
        if httpx.head(f"{base}/manifests/{tag}", headers=accept, timeout=10).status_code == 200
    )


def api(plane: Plane, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(
        method,
        f"{plane.api}{path}",
        headers={"Authorization": f"Bearer {plane.token}"},
        timeout=120,
        **kwargs,
    )


def test_a_busy_app_keeps_exactly_its_newest_images_and_old_rollbacks_fail_clearly(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app = plane.new_app("gc")
    src = app_source("static")
    for n in range(1, KEEP + 3):
        (src / "index.html").write_text(page(f"deploy number {n}"))
        plane.deploy(app, src)
    assert plane.serving(app, f"deploy number {KEEP + 2}")
    # Each deploy collects in the background after it answered: wait for the last one.
    wait_for(lambda: len(app_images(plane, app)) == KEEP, 60, f"{KEEP} images of {app}")
    if plane.backend == "kubernetes":  # and in the registry the cluster pulls from
        wait_for(lambda: len(registry_tags(plane, app)) == KEEP, 60, f"{KEEP} tags of {app}")
    dry = json.loads(plane.xae("gc", "--app", app, "--dry-run", "--json").stdout)
    assert dry["dry_run"] is True and dry["images"] == []

    refused = plane.xae("rollback", "v1", "--app", app, check=False)
    assert refused.returncode == 1
    assert "the image of v1 was garbage-collected" in refused.stderr
    assert "redeploy" in refused.stderr
    assert plane.serving(app, f"deploy number {KEEP + 2}")
    plane.xae("rollback", "v3", "--app", app)  # a kept release still rolls back
    wait_for(lambda: plane.serving(app, "deploy number 3"), 60, "v3 serving again")

    status = plane.xae("status", check=False)
    assert "disk: images " in status.stdout, status.stdout
    disk = json.loads(plane.xae("status", "--json", check=False).stdout)["disk"]
    assert disk["images"] > 1_000_000
    if plane.backend == "docker":  # on kubernetes the pods' logs are the kubelet's
        assert disk["logs"] > 0


@pytest.mark.backends("docker")
def test_a_branch_gets_its_own_preview_app_served_at_its_own_name_until_removed(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    parent = plane.new_app("pv")
    src = app_source("static")
    (src / "index.html").write_text(page("the parent app"))
    plane.deploy(parent, src)
    plane.xae("config:set", "GREETING=from-the-parent", "--app", parent)

    refused = api(plane, "POST", f"/v1/apps/{parent}/previews", json={"branch": "x"})
    assert refused.status_code == 422 and "previews are off" in refused.text
    plane.xae("previews:on", "--app", parent, "--idle", "3d")

    made = api(plane, "POST", f"/v1/apps/{parent}/previews", json={"branch": "Feature/Login_Page!"})
    assert made.status_code == 201, made.text
    preview = made.json()["app"]
    plane.apps.append(preview)
    assert preview == f"{parent}--feature-login-page"
    assert made.json()["url"].startswith(f"http://{preview}.localhost:")
    config = plane.xae_json("config", "--app", preview)
    assert config == {"GREETING": "from-the-parent"}

    clash = api(plane, "POST", f"/v1/apps/{parent}/previews", json={"branch": "feature-login_page"})
    assert clash.status_code == 409 and "both map to the preview app" in clash.text

    (src / "index.html").write_text(page("the login page preview"))
    plane.deploy(preview, src)
    wait_for(lambda: plane.serving(preview, "the login page preview"), 60, "the preview serving")
    assert plane.serving(parent, "the parent app")
    ps = plane.instances(preview)
    assert len(ps) == 1  # a formation of one web instance

    listed = plane.xae_json("previews", "--app", parent)
    assert [(p["branch"], p["app"]) for p in listed["previews"]] == [
        ("Feature/Login_Page!", preview)
    ]
    removed = api(
        plane, "DELETE", f"/v1/apps/{parent}/previews", params={"branch": "Feature/Login_Page!"}
    )
    assert removed.json() == {"removed": preview}
    plane.apps.remove(preview)
    assert preview not in {a["name"] for a in plane.xae_json("apps")}
    wait_for(lambda: not plane.serving(preview, "the login page preview"), 30, "the preview gone")
    assert app_images(plane, preview) == []
    assert plane.serving(parent, "the parent app")


@pytest.mark.backends("docker")
def test_the_reaper_destroys_a_preview_idle_longer_than_allowed(plane: Plane) -> None:
    parent = plane.new_app("pr")
    plane.xae("previews:on", "--app", parent, "--idle", "1s")
    made = api(plane, "POST", f"/v1/apps/{parent}/previews", json={"branch": "stale"})
    assert made.status_code == 201, made.text
    preview = made.json()["app"]
    plane.apps.append(preview)
    wait_for(
        lambda: preview not in {a["name"] for a in plane.xae_json("apps")},
        60,
        f"the reaper destroying {preview}",
    )
    plane.apps.remove(preview)
    assert plane.xae_json("previews", "--app", parent)["previews"] == []
