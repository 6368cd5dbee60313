"""The release phase, as a user sees it: a Procfile's `release:` migration runs once per deploy
in a one-off container of the new release, its output in the deploy's output; when it fails,
the deploy fails and the old release keeps serving; nothing of it is left behind."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.e2e.harness import Plane, wait_for

pytestmark = pytest.mark.e2e


def oneoffs_left(plane: Plane) -> list[str]:
    """One-off containers (docker) or Jobs (kubernetes) of this plane still there."""
    if plane.backend == "kubernetes":
        listed = plane.kubectl(
            "-n", plane.namespace, "get", "jobs,pods", "-l", "xae.dev/oneoff", "-o", "name"
        )
        return listed.stdout.split()
    # Instances carry the label empty (so an image's own `xae.oneoff` label cannot pass them
    # off as one-offs): a one-off is a container whose label names its kind.
    listed = subprocess.run(
        [
            "docker", "ps", "-a", "--format", '{{.Names}} {{.Label "xae.oneoff"}}',
            "--filter", "label=xae.oneoff", "--filter", f"label=xae.plane={plane.name}",
        ],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return [
        name
        for name, _, kind in (line.partition(" ") for line in listed.stdout.splitlines())
        if kind
    ]


def test_a_release_migration_runs_in_the_new_release_and_its_failure_keeps_the_old_one(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    source = app_source("release-phase")
    app = plane.new_app("mig")
    plane.xae("config:set", "DATABASE_PATH=/tmp/notes.db", "--app", app)

    deployed = plane.deploy(app, source)

    out = deployed.stdout + deployed.stderr
    # The migration's own lines, streamed into the deploy's output: it ran this source
    # (schema 2), with this release's config (the path), as the app user, not root.
    assert "running the release command `python migrate.py`" in out
    assert "migrating /tmp/notes.db to schema 2" in out
    assert "tables now: notes, schema" in out
    assert "running as uid 10001" in out
    # (On kubernetes the router follows the cluster's endpoints: it may take a moment.)
    wait_for(lambda: plane.serving(app, "schema 2"), timeout=30, what="v2 to serve")
    # `release` is no process type: nothing to scale, no instance of it.
    formation = plane.xae_json("ps", "--app", app)
    assert {i["type"] for i in formation["instances"]} == {"web"}
    assert oneoffs_left(plane) == []

    (source / "schema_version").write_text("3\n")
    (source / "fail").write_text("")
    failed = plane.deploy(app, source, check=False)

    assert failed.returncode != 0
    said = failed.stdout + failed.stderr
    assert "migrating /tmp/notes.db to schema 3" in said
    assert "column notes.author does not exist" in said
    assert "the release command `python migrate.py` failed with exit code 3" in said
    assert plane.get(app).text == "schema 2\n"  # the old release keeps serving
    releases = {r["version"]: r for r in plane.xae_json("releases", "--app", app)}
    newest = releases[max(releases)]
    assert newest["status"] == "failed"
    assert "exit code 3" in newest["failure_reason"]
    assert plane.xae_json("apps:info", app)["release"] == newest["version"] - 1
    assert oneoffs_left(plane) == []
