"""What a deploy reports is true: the health check asks as users do, messages fit the case.

Regressions for issue 7, findings 12 (the health check sent the container's address as Host,
so an app refusing unknown hosts passed with a 400 while users got 500s) and 13 (a deploy of
an app without a web process said "serving at URL"; a first deploy said "the previous release
keeps serving"; a failure without log lines said they were "below"; build errors were printed
twice with raw terminal escapes).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.e2e.harness import Plane

pytestmark = pytest.mark.e2e


def _host_check_app(
    plane: Plane, app_source: Callable[[str], Path], prefix: str
) -> tuple[str, Path]:
    source = app_source("host-check")
    app = plane.new_app(prefix)
    (source / "Procfile").write_text(f"web: APP_NAME={app} python app.py\n")
    return app, source


@pytest.mark.backends("docker")
def test_an_app_that_fails_its_users_fails_the_default_health_check(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    # 400 to any other host (as Django's DisallowedHost), 500 to its own host name.
    app, source = _host_check_app(plane, app_source, "djgo")
    plane.xae("apps:update", "--app", app, "--health-attempts", "8")
    result = plane.deploy(app, source, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "did not pass the health check" in output
    assert f"Host {app}.localhost" in output
    assert "answered 500: refused" in output
    assert [r["status"] for r in plane.xae_json("releases", "--app", app)] == ["failed"]
    # A first deploy: nothing served before, and the message does not pretend otherwise.
    assert "keeps serving" not in output
    assert "No earlier release was serving" in output
    assert "its last log lines are below" in output
    assert f"host={app}.localhost -> 500" in result.stderr  # the log tail is shown


def test_the_health_check_sends_the_apps_host_name(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    # The same app, healthy: it answers 200 only to its own host name, so a strict check
    # (2xx/3xx; on kubernetes an httpGet probe) passes only if it sends that name.
    app, source = _host_check_app(plane, app_source, "host")
    (source / "Procfile").write_text(f"web: APP_NAME={app} HEALTHY=1 python app.py\n")
    plane.xae("apps:update", "--app", app, "--health-path", "/", "--health-attempts", "40")
    result = plane.deploy(app, source)
    assert f"serving at http://{app}.localhost" in result.stdout
    assert plane.get(app).text == "ok\n"


@pytest.mark.backends("docker")
def test_the_deploy_log_says_what_the_default_check_accepted(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    source = app_source("shell-line")
    (source / "notfound.py").write_text(
        "import os\nfrom http.server import BaseHTTPRequestHandler, HTTPServer\n\n\n"
        "class NotFound(BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_error(404)\n\n\n"
        "HTTPServer(('', int(os.environ['PORT'])), NotFound).serve_forever()\n"
    )
    (source / "Procfile").write_text("web: python notfound.py\n")
    app = plane.new_app("seen")
    result = plane.deploy(app, source)
    assert "GET / answered 404: accepted (the default check accepts any answer below 500" in (
        result.stdout
    )
    assert "apps:update --health-path" in result.stdout


def test_an_app_with_only_a_worker_does_not_claim_to_serve(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    source = app_source("shell-line")
    (source / "Procfile").write_text("worker: python -c 'import time; time.sleep(3600)'\n")
    app = plane.new_app("wrkr")
    result = plane.deploy(app, source)
    last = result.stdout.strip().splitlines()[-1]
    assert "serving at" not in result.stdout
    assert "it has no web process, so nothing is served at" in last
    assert f"`xae ps:scale worker=1 --app {app}`" in last
    plane.xae("ps:scale", "worker=1", "--app", app)
    assert len(plane.instances(app, "worker")) == 1


def test_a_failure_without_log_lines_does_not_point_below(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    source = app_source("shell-line")
    (source / "Procfile").write_text("web: sleep 3600\n")
    app = plane.new_app("mute")
    plane.xae("apps:update", "--app", app, "--health-attempts", "8")
    result = plane.deploy(app, source, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "below" not in output
    assert "wrote nothing to its log" in output


@pytest.mark.backends("docker")
def test_a_build_error_is_shown_once_without_terminal_escapes(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    source = app_source("shell-line")
    (source / "Dockerfile").write_text(
        "FROM xae/stack-python:latest\n"
        "RUN printf '\\033[31mxae-%s\\033[0m\\n' fixture-failure; exit 3\n"
    )
    app = plane.new_app("ansi")
    result = plane.deploy(app, source, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "\x1b" not in output
    assert output.count("xae-fixture-failure") == 1, output
