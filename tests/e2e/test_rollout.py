"""Deploys never drop traffic, and a broken deploy never replaces a working one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.e2e.harness import Plane, wait_for

pytestmark = pytest.mark.e2e

LOAD_REQUESTS = 2500
LOAD_SECONDS = 240.0


class Load:
    """A bounded load loop through the router: each request on a new connection."""

    def __init__(self, plane: Plane, app: str, workers: int = 4) -> None:
        self.plane, self.app = plane, app
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(workers)]

    def _run(self) -> None:
        deadline = time.monotonic() + LOAD_SECONDS
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{self.plane.router_port}/",
                    headers={"Host": f"{self.app}.localhost", "Connection": "close"},
                    timeout=10,
                )
                failure = (
                    None
                    if response.status_code == 200
                    else f"HTTP {response.status_code}: {response.text[:80]!r}"
                )
            except httpx.HTTPError as e:
                failure = f"{type(e).__name__}: {e}"
            with self._lock:
                if failure:
                    self.failures.append(failure)
                else:
                    self.ok += 1

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=LOAD_SECONDS)

    @property
    def total(self) -> int:
        return self.ok + len(self.failures)


def deployed_flask(
    plane: Plane, app_source: Callable[[str], Path], prefix: str
) -> tuple[str, Path]:
    """A new app with the Flask fixture deployed as v1, and its (editable) source."""
    source = app_source("flask")
    app = plane.new_app(prefix)
    plane.deploy(app, source)
    return app, source


def test_rolling_deploy_under_load_drops_no_request(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app, source = deployed_flask(plane, app_source, "roll")
    plane.xae("ps:scale", "web=2", "--app", app)

    app_py = source / "app.py"
    with Load(plane, app) as load:
        for round_ in range(3):
            app_py.write_text(app_py.read_text().replace("hello from", f"v{round_} hello from"))
            plane.deploy(app, source)
        plane.xae("config:set", "GREETING=under-load", "--app", app)
        deadline = time.monotonic() + 120
        while load.total < LOAD_REQUESTS and time.monotonic() < deadline:
            time.sleep(0.1)
    assert load.total >= 2000
    assert load.failures == []
    assert "greeting=under-load" in plane.get(app).text
    assert plane.get(app).text.startswith("v0 v1 v2 hello from")


def test_unhealthy_release_fails_and_the_old_one_keeps_serving(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app, source = deployed_flask(plane, app_source, "sick")
    plane.xae("apps:update", "--app", app, "--health-attempts", "8")

    (source / "Procfile").write_text(
        "web: python -c \"print('listening on the wrong port', flush=True); "
        'import time; time.sleep(600)"\n'
    )
    result = plane.deploy(app, source, check=False)
    assert result.returncode == 1
    assert "did not pass the health check" in result.stderr + result.stdout
    assert "listening on the wrong port" in result.stderr + result.stdout

    assert plane.get(app).status_code == 200
    releases = plane.xae_json("releases", "--app", app)
    assert [(r["version"], r["status"]) for r in releases] == [(2, "failed"), (1, "succeeded")]
    assert plane.xae_json("apps:info", app)["release"] == 1
    # The new instances are removed (a cluster takes a moment to delete its pods).
    wait_for(
        lambda: [i["release"] for i in plane.xae_json("apps:info", app)["instances"]] == [1],
        timeout=60,
        what="only v1's instance to remain",
    )


@pytest.mark.backends("docker")
def test_failing_build_keeps_the_current_release(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app, source = deployed_flask(plane, app_source, "bbld")
    (source / "requirements.txt").write_text("xae-no-such-package-anywhere==9.9.9\n")
    result = plane.deploy(app, source, check=False)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "xae-no-such-package-anywhere" in output
    assert plane.get(app).status_code == 200
    assert [r["version"] for r in plane.xae_json("releases", "--app", app)] == [1]


@pytest.mark.backends("docker")
def test_malformed_procfile_is_rejected_naming_the_line(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    source = app_source("flask")
    (source / "Procfile").write_text("web: python app.py\nthis line is wrong\n")
    app = plane.new_app("proc")
    result = plane.deploy(app, source, check=False)
    assert result.returncode == 1
    assert "Procfile line 2" in result.stdout + result.stderr
    assert plane.xae_json("releases", "--app", app) == []
