"""`xae deploy --image`: an image a user already has is released without a build.

The image comes from a real source deploy of the static fixture, so it exists on the Docker
engine the plane runs on; a second app then runs that very image, through the router.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.e2e.harness import Plane

pytestmark = [pytest.mark.e2e, pytest.mark.backends("docker")]

STATIC_PORT = "5000"
"""The static stack's `serve-static` listens on $PORT, which xae sets to the default 5000."""


def test_an_image_built_for_one_app_serves_another_without_a_build(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    first = plane.new_app("built")
    plane.deploy(first, app_source("static"))
    [built] = plane.xae_json("releases", "--app", first)
    image = built["image"]
    assert image.startswith(f"xae/app-{first}:")

    second = plane.new_app("image")
    try:
        result = plane.xae(
            "deploy", "--image", image, "--port", STATIC_PORT, "--command", "serve-static",
            "--app", second,
        )
        assert "no build" in result.stdout
        assert "deployed v1" in result.stdout

        response = plane.get(second)
        assert response.status_code == 200
        assert "hello from the xae static fixture" in response.text

        [release] = plane.xae_json("releases", "--app", second)
        assert (release["image"], release["status"]) == (image, "succeeded")
        assert release["description"] == f"Deploy image {image}"
        [web] = plane.xae_json("ps", "--app", second)["formation"]
        assert (web["type"], web["command"]) == ("web", "serve-static")
        assert plane.get(first).status_code == 200  # the image's own app is untouched

        refused = plane.xae("deploy", "--image", "Not An Image", "--app", second, check=False)
        assert refused.returncode == 1
        assert "spaces or control characters" in refused.stderr
        assert len(plane.xae_json("releases", "--app", second)) == 1
    finally:
        # `first` owns the image and removes it when destroyed: retire its other user first.
        plane.xae("apps:destroy", second, "--confirm", second, check=False)
        plane.apps.remove(second)
