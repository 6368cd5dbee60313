"""Procfile lines run as a shell runs them, and stopping their app stays prompt.

Regression for issue 7, finding 11: commands ran as `sh -c "exec LINE"`, so `a && b` stopped
after `a`, `VAR=x app` failed with "not found" and `a; b` ran only `a`.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.e2e.harness import Plane, wait_for

pytestmark = pytest.mark.e2e


def _state(plane: Plane, app: str) -> dict[str, object]:
    response = plane.get(app)
    assert response.status_code == 200, response.text
    state: dict[str, object] = response.json()
    return state


def test_a_compound_line_with_an_env_prefix_runs_every_command(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    # web: python -c "open('/tmp/x','w').write('1')" && VAR=x python app.py
    source = app_source("shell-line")
    app = plane.new_app("andl")
    plane.deploy(app, source)
    assert _state(plane, app) == {"x": "1", "y": None, "var": "x"}


def test_a_semicolon_list_runs_both_commands(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    source = app_source("shell-line")
    (source / "Procfile").write_text(
        "web: python -c \"open('/tmp/y','w').write('2')\"; python app.py\n"
    )
    app = plane.new_app("semi")
    plane.deploy(app, source)
    assert _state(plane, app) == {"x": None, "y": "2", "var": None}


@pytest.mark.backends("docker")
def test_stopping_an_instance_of_a_compound_line_is_prompt(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    source = app_source("shell-line")
    app = plane.new_app("stop")
    plane.deploy(app, source)
    [instance] = plane.instances(app)
    # The app is a child of the shell running the line; the stop signal must reach it.
    started = time.monotonic()
    subprocess.run(
        ["docker", "stop", "-t", "10", instance["name"]], check=True, capture_output=True
    )
    elapsed = time.monotonic() - started
    assert elapsed < 2, f"docker stop took {elapsed:.1f} s: SIGTERM did not reach the app"
    # xae notices and brings the app back, still running the whole line.
    wait_for(lambda: plane.serving(app, '"var": "x"'), timeout=60, what="the app to come back")
