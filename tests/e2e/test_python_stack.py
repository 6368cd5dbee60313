"""A Python app with a lock file and no Procfile deploys as a user would push it: the deploy
output says which Python and which web command xae chose, and the app answers through the
router."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.e2e.harness import Plane


@pytest.mark.e2e
@pytest.mark.backends("docker")
def test_a_uv_fastapi_app_without_a_procfile_deploys_and_says_what_it_runs(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app = plane.new_app("pyuv")
    result = plane.deploy(app, app_source("py-uv"))
    output = result.stdout + result.stderr
    assert "-----> python 3.13 (pyproject.toml [project] requires-python asks for >=3.11;" in output
    assert "-----> web: uvicorn --host 0.0.0.0 --port $PORT main:app (detected FastAPI;" in output
    assert 'override with a Procfile line "web: ..."' in output

    response = plane.get(app)
    assert response.status_code == 200
    assert response.text.startswith("uv app, fastapi ")
