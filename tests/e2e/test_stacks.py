"""Each kind of source a user hands xae deploys and answers through the router."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.e2e.harness import Plane


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("flask", "hello from"),
        ("express", "hello from"),
        ("static", "<html"),
        ("dockerfile", "hello from"),
    ],
)
def test_each_stack_deploys_and_serves_through_the_router(
    plane: Plane, app_source: Callable[[str], Path], kind: str, expected: str
) -> None:
    app = plane.new_app(kind[:6])
    result = plane.deploy(app, app_source(kind))
    assert "v1" in result.stdout

    response = plane.get(app)
    assert response.status_code == 200
    assert expected in response.text.lower()

    info = plane.xae_json("apps:info", app)
    assert info["release"] == 1
    assert info["url"] == f"http://{app}.localhost:{plane.router_port}/"
    assert [i["state"] for i in info["instances"]] == ["running"]


@pytest.mark.e2e
@pytest.mark.backends("docker")
def test_unknown_host_gets_a_clear_404(plane: Plane) -> None:
    response = plane.get("no-such-app-here")
    assert response.status_code == 404
    assert "xae apps:create" in response.text


@pytest.mark.e2e
def test_procfile_worker_runs_when_scaled(plane: Plane, app_source: Callable[[str], Path]) -> None:
    source = app_source("flask")
    (source / "Procfile").write_text(
        "web: gunicorn --bind 0.0.0.0:$PORT app:app\n"
        "worker: python -c \"import time; print('worker up', flush=True); time.sleep(3600)\"\n"
    )
    app = plane.new_app("work")
    plane.deploy(app, source)
    formation = {f["type"]: f["quantity"] for f in plane.xae_json("ps", "--app", app)["formation"]}
    assert formation == {"web": 1, "worker": 0}

    plane.xae("ps:scale", "worker=1", "--app", app)
    instances = plane.xae_json("ps", "--app", app)["instances"]
    assert sorted(i["type"] for i in instances) == ["web", "worker"]
    assert "worker up" in plane.xae("logs", "--ps", "worker", "--app", app).stdout
    assert plane.get(app).status_code == 200
