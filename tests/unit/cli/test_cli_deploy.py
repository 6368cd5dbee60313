"""`xae deploy`: the upload request and the live NDJSON event stream."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.unit.cli.cli_fakes import FakeApi
from typer.testing import Result


def _ndjson(*events: dict[str, Any]) -> httpx.Response:
    body = "".join(json.dumps(event) + "\n" for event in events)
    return httpx.Response(
        200, content=body.encode(), headers={"Content-Type": "application/x-ndjson"}
    )


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text("print('hi')\n")
    (src / "Procfile").write_text("web: python app.py\n")
    (src / ".gitignore").write_text("*.log\n")
    (src / "debug.log").write_text("noise")
    return src


def test_deploy_uploads_a_gzip_tarball_and_prints_events(
    tmp_path: Path, logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.on(
        "POST",
        "/v1/apps/shop/deploys",
        _ndjson(
            {"event": "step", "message": "Detected python"},
            {"event": "log", "line": "Collecting flask"},
            {"event": "done", "release": {"version": 3}, "url": "http://shop.localhost:8080"},
        ),
    )
    result = run("deploy", str(_source(tmp_path)), "--app", "shop")

    assert result.exit_code == 0, result.output
    request = fake_api.last
    assert request.headers["Content-Type"] == "application/gzip"
    assert request.headers["Content-Length"] == str(len(request.content))
    with tarfile.open(fileobj=io.BytesIO(request.content), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == [".gitignore", "Procfile", "app.py"]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("uploading 3 files, 0.0 MB")
    assert "-----> Detected python" in lines
    assert "       Collecting flask" in lines
    assert lines[-1] == "deployed v3, serving at http://shop.localhost:8080"


def test_deploy_error_event_shows_log_tail_and_exits_1(
    tmp_path: Path, logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.on(
        "POST",
        "/v1/apps/shop/deploys",
        _ndjson(
            {"event": "step", "message": "Building image"},
            {
                "event": "error",
                "error": {
                    "code": "build_failed",
                    "message": "the build failed",
                    "details": {"log_tail": ["pip: no such package 'flsk'"]},
                },
            },
        ),
    )
    result = run("deploy", str(_source(tmp_path)), "-a", "shop")
    assert result.exit_code == 1
    assert "-----> Building image" in result.stdout
    assert "error: the build failed (build_failed)" in result.stderr
    assert "  pip: no such package 'flsk'" in result.stderr


def test_deploy_http_error_before_streaming(
    tmp_path: Path, logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json(
        "POST",
        "/v1/apps/shop/deploys",
        {"error": {"code": "upload_too_large", "message": "upload is over 1 GB", "details": {}}},
        413,
    )
    result = run("deploy", str(_source(tmp_path)), "--app", "shop")
    assert result.exit_code == 1
    assert "error: upload is over 1 GB (upload_too_large)" in result.stderr


def test_deploy_stream_that_ends_early_is_an_error(
    tmp_path: Path, logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.on("POST", "/v1/apps/shop/deploys", _ndjson({"event": "step", "message": "x"}))
    result = run("deploy", str(_source(tmp_path)), "--app", "shop")
    assert result.exit_code == 1
    assert "ended without a result" in result.stderr


def test_deploy_of_an_empty_directory_is_refused(
    tmp_path: Path, logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".gitignore").write_text("*\n")
    result = run("deploy", str(empty), "--app", "shop")
    assert result.exit_code == 2
    assert "nothing to deploy" in result.stderr
    assert fake_api.requests == []


def test_deploy_image_posts_the_reference_and_prints_events(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.on(
        "POST",
        "/v1/apps/shop/deploys/image",
        _ndjson(
            {"event": "step", "message": "using image nginx:1.27 as is (no build)"},
            {"event": "step", "message": "releasing v2"},
            {"event": "done", "release": {"version": 2}, "url": "http://shop.localhost:8080"},
        ),
    )
    result = run(
        "deploy",
        "--image",
        "nginx:1.27",
        "--port",
        "8080",
        "--command",
        "nginx -g x",
        "--app",
        "shop",
    )

    assert result.exit_code == 0, result.output
    assert fake_api.last.headers["Content-Type"] == "application/json"
    assert fake_api.last_json() == {"image": "nginx:1.27", "port": 8080, "command": "nginx -g x"}
    lines = result.stdout.splitlines()
    assert lines[0] == "deploying image nginx:1.27"
    assert "-----> using image nginx:1.27 as is (no build)" in lines
    assert lines[-1] == "deployed v2, serving at http://shop.localhost:8080"


def test_deploy_image_leaves_port_and_command_to_the_server_defaults(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.on(
        "POST",
        "/v1/apps/shop/deploys/image",
        _ndjson({"event": "done", "release": {"version": 1}, "url": "http://x"}),
    )
    result = run("deploy", "--image", "nginx", "-a", "shop")
    assert result.exit_code == 0, result.output
    assert fake_api.last_json() == {"image": "nginx"}


def test_deploy_image_shows_the_apis_refusal(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json(
        "POST",
        "/v1/apps/shop/deploys/image",
        {
            "error": {
                "code": "invalid_input",
                "message": "the image reference 'Nginx' is not valid",
                "details": {},
            }
        },
        422,
    )
    result = run("deploy", "--image", "Nginx", "--app", "shop")
    assert result.exit_code == 1
    assert "error: the image reference 'Nginx' is not valid (invalid_input)" in result.stderr


def test_deploy_image_with_a_directory_too_is_a_usage_error(
    tmp_path: Path, logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    result = run("deploy", str(_source(tmp_path)), "--image", "nginx:1.27", "--app", "shop")
    assert result.exit_code == 2
    assert "either a directory or --image, not both" in result.stderr
    assert fake_api.requests == []


@pytest.mark.parametrize("option", [["--port", "8080"], ["--command", "run"]])
def test_port_and_command_without_image_are_a_usage_error(
    tmp_path: Path,
    logged_in: Path,
    fake_api: FakeApi,
    run: Callable[..., Result],
    option: list[str],
) -> None:
    result = run("deploy", str(_source(tmp_path)), *option, "--app", "shop")
    assert result.exit_code == 2
    assert "go with --image" in result.stderr
    assert fake_api.requests == []


def test_deploy_without_a_directory_uploads_the_current_one(
    tmp_path: Path,
    logged_in: Path,
    fake_api: FakeApi,
    run: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_api.on(
        "POST",
        "/v1/apps/shop/deploys",
        _ndjson({"event": "done", "release": {"version": 1}, "url": "http://x"}),
    )
    monkeypatch.chdir(_source(tmp_path))
    result = run("deploy", "--app", "shop")
    assert result.exit_code == 0, result.output
    assert fake_api.last.url.path == "/v1/apps/shop/deploys"


URL = "http://shop.localhost:8080/"


def _deploy_with(
    tmp_path: Path, fake_api: FakeApi, run: Callable[..., Result], *events: dict[str, Any]
) -> Result:
    fake_api.on("POST", "/v1/apps/shop/deploys", _ndjson(*events))
    return run("deploy", str(_source(tmp_path)), "--app", "shop")


def _done(processes: dict[str, int]) -> dict[str, Any]:
    return {"event": "done", "release": {"version": 1}, "url": URL, "processes": processes}


def test_a_deploy_with_a_running_web_process_says_where_it_serves(
    tmp_path: Path, logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    result = _deploy_with(tmp_path, fake_api, run, _done({"web": 2, "worker": 0}))
    assert result.stdout.splitlines()[-1] == f"deployed v1, serving at {URL}"


def test_a_deploy_without_a_web_process_does_not_claim_to_serve(
    tmp_path: Path, logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    result = _deploy_with(tmp_path, fake_api, run, _done({"worker": 0}))
    assert result.exit_code == 0
    last = result.stdout.splitlines()[-1]
    assert "serving at" not in last
    assert "it has no web process, so nothing is served at" in last
    assert "worker=0" in last
    assert "`xae ps:scale worker=1 --app shop`" in last


def test_a_deploy_with_web_scaled_to_zero_says_how_to_serve(
    tmp_path: Path, logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    result = _deploy_with(tmp_path, fake_api, run, _done({"web": 0}))
    last = result.stdout.splitlines()[-1]
    assert "serving at" not in last
    assert "`xae ps:scale web=1 --app shop`" in last


def test_a_build_error_is_printed_once_without_escapes(
    tmp_path: Path, logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    red = "\x1b[31mERROR: No matching distribution found for flsk\x1b[0m"
    result = _deploy_with(
        tmp_path,
        fake_api,
        run,
        {"event": "log", "line": "Collecting flsk"},
        {"event": "log", "line": red},
        {
            "event": "error",
            "error": {
                "code": "build_failed",
                "message": f"the build of shop failed; the last lines of the build log:\n"
                f"Collecting flsk\n{red}",
                "details": {"log_tail": ["Collecting flsk", red]},
            },
        },
    )
    assert result.exit_code == 1
    everything = result.stdout + result.stderr
    assert "\x1b" not in everything
    assert everything.count("ERROR: No matching distribution found for flsk") == 1
    assert (
        "error: the build of shop failed; the last lines of the build log (shown above) "
        "(build_failed)" in result.stderr
    )


def test_an_app_log_tail_not_streamed_before_is_shown_cleaned(
    tmp_path: Path, logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    result = _deploy_with(
        tmp_path,
        fake_api,
        run,
        {"event": "step", "message": "releasing v1"},
        {
            "event": "error",
            "error": {
                "code": "deploy_failed",
                "message": "1 new web instance(s) of v1 did not pass the health check",
                "details": {"log_tail": ["2024-05-01T12:00:00Z \x1b[1mTraceback\x1b[0m"]},
            },
        },
    )
    assert "  2024-05-01T12:00:00Z Traceback" in result.stderr
    assert "\x1b" not in result.stderr
