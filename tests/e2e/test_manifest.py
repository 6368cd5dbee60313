"""The app manifest as a user meets it: an `xae.yaml` (build command, health check path,
formation, config defaults and a required key) and a Heroku `app.json`, deployed with the real
CLI to a real plane, on both backends; a malformed manifest refused before any build, naming
the key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import Plane, wait_for

pytestmark = pytest.mark.e2e


def _state(plane: Plane, app: str) -> dict[str, Any]:
    response = plane.get(app, "/state")
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


def _hosts(plane: Plane, app: str) -> set[str]:
    """The instances answering through the router (each answers with its host name)."""
    seen: set[str] = set()
    for _ in range(40):
        seen.add(_state(plane, app)["host"])
        if len(seen) > 1:
            break
    return seen


def test_an_xae_yaml_app_is_refused_until_its_required_key_is_set_then_deploys_as_declared(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    source = app_source("manifest")
    app = plane.new_app("mani")

    refused = plane.deploy(app, source, check=False)
    assert refused.returncode == 1
    assert "API_KEY: the key of the payment API" in refused.stderr
    assert f"xae config:set API_KEY=... --app {app}" in refused.stderr
    assert "(missing_config)" in refused.stderr
    assert plane.xae_json("releases", "--app", app) == []

    plane.xae("config:set", "API_KEY=k-123", "--app", app)
    deployed = plane.deploy(app, source)
    assert "xae.yaml: a build command, process types web, formation for web" in deployed.stdout
    # The manifest's check (GET / answers 500, so the default check would have failed it).
    assert plane.xae_json("apps:info", app)["health"]["path"] == "/health"

    assert len(plane.instances(app)) == 2  # the manifest's formation, on the first deploy
    state = _state(plane, app)
    assert state["greeting"] == "hello from the manifest"  # a default the app had not set
    assert state["api_key_set"] is True
    assert state["built"] == "built by 10001"  # the build command ran as the app user
    assert len(_hosts(plane, app)) == 2
    assert plane.get(app, "/").status_code == 500  # / fails: only /health let it deploy
    config = plane.xae_json("config", "--app", app)
    assert config["GREETING"] == "hello from the manifest"

    # Later deploys keep the user's scale, and a new required key refuses the deploy while
    # the current release keeps serving.
    plane.xae("ps:scale", "web=1", "--app", app)
    wait_for(lambda: len(plane.instances(app)) == 1, 60, "web scaled to 1")
    manifest = source / "xae.yaml"
    manifest.write_text(
        manifest.read_text() + "  NEW_KEY: {required: true}\n",
    )
    before = [r["version"] for r in plane.xae_json("releases", "--app", app)]
    refused = plane.deploy(app, source, check=False)
    assert refused.returncode == 1
    assert f"xae config:set NEW_KEY=... --app {app}" in refused.stderr
    assert [r["version"] for r in plane.xae_json("releases", "--app", app)] == before
    assert _state(plane, app)["built"] == "built by 10001"  # still serving

    plane.xae("config:set", "NEW_KEY=x", "--app", app)
    plane.deploy(app, source)
    assert len(plane.instances(app)) == 1  # ps:scale wins after the first deploy


def test_a_heroku_app_json_deploys_with_its_formation_env_and_health_check(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    source = app_source("app-json")
    app = plane.new_app("apjs")

    deployed = plane.deploy(app, source)

    assert "warning: app.json: addons is not supported by xae; ignored" in deployed.stdout
    assert plane.xae_json("apps:info", app)["health"]["path"] == "/health"
    assert len(plane.instances(app)) == 2
    state = _state(plane, app)
    assert state["greeting"] == "hello from app.json"
    assert state["salt_length"] == 64  # generator: secret
    formation = {f["type"]: f for f in plane.xae_json("ps", "--app", app)["formation"]}
    assert formation["web"]["quantity"] == 2
    assert formation["web"]["memory"] in ("512M", 512 * 1024**2)


def test_a_malformed_manifest_is_refused_before_any_build_naming_the_key(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    source = app_source("manifest")
    (source / "xae.yaml").write_text("web: python app.py\nformation:\n  web: {quantity: -1}\n")
    app = plane.new_app("badm")

    refused = plane.deploy(app, source, check=False)

    assert refused.returncode == 1
    assert "xae.yaml: formation.web.quantity: must be ≥ 0, got -1 (invalid_manifest)" in (
        refused.stderr
    )
    assert "Step 1/" not in refused.stdout + refused.stderr  # no build step ever ran
    assert plane.xae_json("releases", "--app", app) == []
    local = plane.xae("manifest:check", str(source), check=False)
    assert local.returncode == 1
    assert "xae.yaml: formation.web.quantity: must be ≥ 0, got -1" in local.stderr
    assert json.loads(plane.xae("manifest:check", str(app_source("app-json")), "--json").stdout)[
        "source"
    ] == ("app.json")


def test_a_multi_line_build_command_with_quotes_runs_as_the_shell_runs_it(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    # Quotes, a `$(...)`, a line starting with RUN and a trailing backslash: all the user's
    # shell text, reaching `sh -c` as one argument, never a Dockerfile line of its own.
    source = app_source("manifest")
    (source / "xae.yaml").write_text(
        "build:\n"
        "  command: |\n"
        '    printf \'%s\' "a \\"quoted\\" $(echo word)" > built.txt\n'
        "    RUN=1\n"
        "    echo ' ]\\' >> built.txt\n"
        "web: python app.py\n"
        "healthcheck: {path: /health}\n"
    )
    app = plane.new_app("mlbc")

    plane.deploy(app, source)

    assert _state(plane, app)["built"] == 'a "quoted" word ]\\'
