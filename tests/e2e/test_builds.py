"""The build service as a user drives it with the CLI, on real builds: two deploys of one app
at once (the second says it is queued, both succeed in order), cancelling a running build (the
release keeps serving, no build container is left), build history and stored logs, and a
deploy notification received by a real HTTP receiver, its signature checked; a hook aimed at
the API itself is refused."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import docker
import pytest
from tests.e2e.harness import BIN, HOOK_RECEIVER_HOST, Plane, wait_for

from xae.domain.hooks import verify

pytestmark = pytest.mark.backends("docker")


def slow_app(app_source: Callable[[str], Path], marker: str, seconds: int) -> Path:
    """The Dockerfile fixture app with a build step that takes `seconds` (never cached)."""
    src = app_source("dockerfile")
    dockerfile = src / "Dockerfile"
    text = dockerfile.read_text().replace(
        "COPY --chown", f"RUN env && echo started-{marker} && sleep {seconds}\nCOPY --chown", 1
    )
    (src / "server.py").write_text((src / "server.py").read_text() + f"\n# {marker}\n")
    dockerfile.write_text(text)
    return src


def start_deploy(plane: Plane, app: str, src: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "xae"), "deploy", str(src), "--app", app],
        env=plane.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def builds(plane: Plane, app: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = plane.xae_json("builds", "--app", app)
    return listed


def step_containers(marker: str) -> list[str]:
    client = docker.from_env(version="auto")
    try:
        return [
            c.id
            for c in client.containers.list(all=True)
            if marker in " ".join(c.attrs["Config"].get("Cmd") or [])
        ]
    finally:
        client.close()


def test_two_deploys_of_one_app_at_once_queue_and_both_release_in_order(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app = plane.new_app("queue")
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    plane.xae("config:set", f"BUILD_SECRET={secret}", "--app", app)  # v1: config only
    first_src = slow_app(app_source, f"one-{uuid.uuid4().hex[:8]}", 6)
    second_src = slow_app(app_source, f"two-{uuid.uuid4().hex[:8]}", 1)

    first = start_deploy(plane, app, first_src)
    wait_for(
        lambda: any(b["status"] == "running" for b in builds(plane, app)), 120, "the first build"
    )
    [running] = builds(plane, app)
    second = start_deploy(plane, app, second_src)
    code1, out1 = finish(first)
    code2, out2 = finish(second)

    assert code1 == 0, out1
    assert code2 == 0, out2
    assert f"queued: 1 build ahead of yours (build {running['id']} of app {app})" in out2
    history = sorted(builds(plane, app), key=lambda b: b["id"])
    assert [(b["status"], b["release"]) for b in history] == [("succeeded", 2), ("succeeded", 3)]
    # One after the other: the second started once the first was built and rolled out.
    assert at(history[1]["started_at"]) >= at(history[0]["finished_at"])
    releases = plane.xae_json("releases", "--app", app)
    assert [
        (r["version"], r["build_id"]) for r in sorted(releases, key=lambda r: r["version"])
    ] == [
        (1, None),
        (2, history[0]["id"]),
        (3, history[1]["id"]),
    ]
    assert wait_for(lambda: plane.serving(app, "hello"), 60, "the second release serving")

    table = plane.xae("builds", "--app", app).stdout
    assert "succeeded" in table and "upload" in table and "v3" in table
    info = plane.xae("builds:info", str(history[1]["id"]), "--app", app).stdout
    assert re.search(r"status:\s+succeeded", info) and "release:" in info
    log = plane.xae("builds:logs", str(history[0]["id"]), "--app", app).stdout
    assert "started-one-" in log and "Successfully tagged" in log
    # The build step printed its whole environment: the app's config is not in it.
    assert "PATH=" in log and secret not in log and "BUILD_SECRET" not in log


def test_cancelling_a_running_build_stops_it_and_keeps_the_release_serving(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app = plane.new_app("cancel")
    plane.deploy(app, app_source("dockerfile"))
    wait_for(lambda: plane.serving(app, "hello"), 60, "v1 serving")
    marker = f"cancel-{uuid.uuid4().hex[:8]}"
    deploy = start_deploy(plane, app, slow_app(app_source, marker, 600))
    try:
        wait_for(lambda: step_containers(marker), 180, "the slow build step to run")
        [build] = [b for b in builds(plane, app) if b["status"] == "running"]

        cancelled = plane.xae("builds:cancel", str(build["id"]), "--app", app)

        assert f"build {build['id']} of {app} was cancelled and stopped" in cancelled.stdout
        code, out = finish(deploy, timeout=120)
    finally:
        if deploy.poll() is None:
            deploy.kill()
    assert code == 1, out
    assert "was cancelled" in out and "build_cancelled" in out
    assert step_containers(marker) == []
    info = plane.xae_json("builds:info", str(build["id"]), "--app", app)
    assert info["status"] == "cancelled" and info["release"] is None
    assert plane.xae_json("apps:info", app)["release"] == 1
    assert plane.serving(app, "hello")
    log = plane.xae("builds:logs", str(build["id"]), "--app", app).stdout
    assert f"started-{marker}" in log and "cancelled" in log
    refused = plane.xae("builds:cancel", str(build["id"]), "--app", app, check=False)
    assert refused.returncode == 1 and "is cancelled already" in refused.stderr


class Receiver:
    """A real HTTP server the test starts: it records every request it gets."""

    def __init__(self) -> None:
        received: list[tuple[dict[str, str], bytes]] = []
        self.answer = 204
        """The status it answers with (a test makes it fail, then recover)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((dict(self.headers.items()), body))
                self.send_response(receiver.answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.received = received
        self.server = ThreadingHTTPServer((HOOK_RECEIVER_HOST, 0), Handler)
        self.url = f"http://{HOOK_RECEIVER_HOST}:{self.server.server_port}/xae"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[str]:
        return [headers.get("X-Xae-Event", "") for headers, _ in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_a_deploy_notification_reaches_a_real_receiver_signed(
    plane: Plane, app_source: Callable[[str], Path], receiver: Receiver
) -> None:
    app = plane.new_app("hooks")
    added = plane.xae("hooks:add", receiver.url, "--app", app, "--events", "build,deploy")
    secret = re.search(r"secret: ([0-9a-f]{64})", added.stdout)
    assert secret is not None, added.stdout
    assert secret.group(1) not in plane.xae("hooks", "--app", app).stdout

    plane.deploy(app, app_source("static"))

    wait_for(
        lambda: {"build.succeeded", "deploy.succeeded"} <= set(receiver.events()),
        60,
        "both notifications",
    )
    for headers, body in receiver.received:
        assert verify(secret.group(1), body, headers["X-Xae-Signature"]), headers
        event = json.loads(body)
        assert event["app"] == app and event["event"] == headers["X-Xae-Event"]
    deploy_event = next(
        json.loads(b) for h, b in receiver.received if h["X-Xae-Event"] == "deploy.succeeded"
    )
    assert deploy_event["release"] == {"version": 1}
    deliveries = plane.xae_json("hooks:deliveries", "--app", app)
    assert {(d["event"], d["status_code"], d["ok"]) for d in deliveries} == {
        ("build.succeeded", 204, True),
        ("deploy.succeeded", 204, True),
    }


def test_a_delivery_failing_before_a_control_plane_restart_is_delivered_after_it(
    plane: Plane, app_source: Callable[[str], Path], receiver: Receiver
) -> None:
    app = plane.new_app("hookr")
    plane.xae("hooks:add", receiver.url, "--app", app, "--events", "deploy")
    receiver.answer = 503  # the receiver is down
    plane.deploy(app, app_source("static"))
    failed = wait_for(
        lambda: [d for d in plane.xae_json("hooks:deliveries", "--app", app) if not d["ok"]],
        60,
        "a failed delivery in the log",
    )
    assert failed[0]["status_code"] == 503 and "follows" in (failed[0]["error"] or "")
    delivery = receiver.received[0][0]["X-Xae-Delivery"]

    # The control plane dies while the retry waits; the receiver recovers meanwhile.
    pid = int((plane.state_dir / "xae.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), 10, "xae to die")
    receiver.answer = 204
    plane.admin("start")

    delivered = wait_for(
        lambda: [d for d in plane.xae_json("hooks:deliveries", "--app", app) if d["ok"]],
        90,
        "the retry after the restart",
    )
    assert delivered[0]["event"] == "deploy.succeeded" and delivered[0]["status_code"] == 204
    assert delivered[0]["attempt"] > 1 and delivered[0]["delivery"] == failed[0]["delivery"]
    assert {headers["X-Xae-Delivery"] for headers, _ in receiver.received} == {delivery}


def test_a_hook_aimed_at_the_platforms_own_api_or_metadata_is_refused(plane: Plane) -> None:
    app = plane.new_app("ssrf")
    for url in (
        f"http://127.0.0.1:{plane.api_port}/v1/apps",
        "http://169.254.169.254/latest/meta-data/",
        f"http://localhost:{plane.api_port}/v1/apps",
    ):
        refused = plane.xae("hooks:add", url, "--app", app, check=False)
        assert refused.returncode == 1, (url, refused.stdout)
        assert "inside the platform" in refused.stderr and "hook_not_allowed" in refused.stderr
    assert "has no hooks" in plane.xae("hooks", "--app", app).stdout
