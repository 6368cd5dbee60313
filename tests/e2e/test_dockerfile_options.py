"""A Dockerfile kept elsewhere than the top (`xae apps:update --dockerfile`), as a user sets it
with the CLI: stored on the app, used by the next build (over the package.json detection would
pick), its EXPOSE the port, its CMD the web process beside the Procfile's worker; bad paths
refused when set, a missing file refused at build time with the old release serving."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.e2e.harness import Plane


@pytest.mark.e2e
@pytest.mark.backends("docker")
def test_a_dockerfile_path_is_stored_built_with_and_served(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app = plane.new_app("dpath")
    info = plane.xae_json("apps:update", "--dockerfile", "./deploy/Dockerfile", "--app", app)
    assert info["dockerfile"] == "deploy/Dockerfile"

    result = plane.deploy(app, app_source("dockerfile-path"))
    assert "building with deploy/Dockerfile" in result.stdout
    assert "dockerfile app detected" in result.stdout
    response = plane.get(app)
    assert response.status_code == 200
    assert response.text.startswith("hello from ")
    formation = {f["type"]: f for f in plane.xae_json("ps", "--app", app)["formation"]}
    assert set(formation) == {"web", "worker"}
    assert formation["web"]["command"] == ""  # the image's own CMD

    # Gone from the tree: the build fails saying so, and v1 keeps serving.
    source = app_source("dockerfile-path")
    (source / "deploy" / "Dockerfile").unlink()
    failed = plane.deploy(app, source, check=False)
    assert failed.returncode != 0
    assert "deploy/Dockerfile is not a file in the source" in failed.stdout + failed.stderr
    assert plane.get(app).status_code == 200
    assert plane.xae_json("apps:info", app)["release"] == 1

    # '' goes back to detection.
    assert plane.xae_json("apps:update", "--dockerfile", "", "--app", app)["dockerfile"] is None


@pytest.mark.e2e
@pytest.mark.backends("docker")
@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/etc/passwd", "is absolute"),
        ("deploy/../../Dockerfile", "leaves the app's source"),
        ("deploy/Docker file", "is not valid"),
    ],
)
def test_a_bad_dockerfile_path_is_refused_when_set(plane: Plane, path: str, says: str) -> None:
    app = plane.new_app("dbad")
    result = plane.xae("apps:update", "--dockerfile", path, "--app", app, check=False)
    assert result.returncode != 0
    assert says in result.stdout + result.stderr
    assert plane.xae_json("apps:info", app).get("dockerfile") is None
