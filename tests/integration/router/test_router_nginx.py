"""The nginx router against a real nginx and real HTTP backends on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.integration.router.router_harness import (
    NGINX,
    Backend,
    Reply,
    free_port,
    kill_leftover_master,
    request,
)

from xae.config import Settings
from xae.errors import PortInUse, RouterFailure
from xae.router import NginxRouter, Route
from xae.router import process as router_process

# No skip when nginx is missing: `make test` installs it, so its absence is a failure to see.
pytestmark = pytest.mark.integration

Get = Callable[..., Reply]
StartBackend = Callable[..., Backend]


def test_routes_by_host_header(router: NginxRouter, backend: StartBackend, get: Get) -> None:
    one, two = backend("one", "127.0.0.2"), backend("two", "127.0.0.3")
    router.apply(
        [
            Route("one", ["one.localhost"], [one.address]),
            Route("two", ["two.localhost", "www.two.example.com"], [two.address]),
        ]
    )
    assert get("one.localhost").json()["name"] == "one"
    assert get("two.localhost").json()["name"] == "two"
    assert get("www.two.example.com").json()["name"] == "two"
    assert get("ONE.localhost:8080").json()["name"] == "one"


def test_forwards_client_facts_and_a_request_id(
    router: NginxRouter, backend: StartBackend, get: Get
) -> None:
    web = backend("web")
    router.apply([Route("web", ["web.localhost"], [web.address])])

    reply = get("web.localhost", "/p?q=1")
    seen = reply.json()
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert seen["path"] == "/p?q=1"
    assert headers["host"] == "web.localhost"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == "web.localhost"
    minted = reply.headers["x-request-id"]
    assert len(minted) == 32 and headers["x-request-id"] == minted

    kept = get("web.localhost", headers={"X-Request-ID": "trace-abc.123"})
    assert kept.headers["x-request-id"] == "trace-abc.123"
    assert kept.json()["headers"]["x-request-id"] == "trace-abc.123"  # type: ignore[index]

    forged = get("web.localhost", headers={"X-Request-ID": "bad id <script>"})
    assert forged.headers["x-request-id"] != "bad id <script>"


def test_load_balances_across_three_upstreams(
    router: NginxRouter, backend: StartBackend, get: Get
) -> None:
    instances = [backend(f"web.{i}", f"127.0.0.{i + 2}") for i in range(3)]
    router.apply([Route("web", ["web.localhost"], [b.address for b in instances])])
    seen = {get("web.localhost").json()["name"] for _ in range(30)}
    assert seen == {"web.0", "web.1", "web.2"}


def test_unknown_host_gets_a_404_page_saying_how_to_deploy(router: NginxRouter, get: Get) -> None:
    text = get("nothing.localhost")
    assert text.status == 404
    assert text.headers["content-type"].startswith("text/plain")
    assert "no app is at nothing.localhost" in text.text
    assert "xae apps:create NAME" in text.text and "xae deploy" in text.text

    page = get("nothing.localhost", headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "No app is at nothing.localhost" in page.text
    assert "<code>NAME.localhost</code>" in page.text


def test_a_hostile_host_header_is_not_echoed_into_the_page(router: NginxRouter, get: Get) -> None:
    page = get("<img src=x>", headers={"Accept": "text/html"})
    assert page.status in (400, 404)
    assert "<img" not in page.text


def test_app_without_instances_answers_503(router: NginxRouter, get: Get) -> None:
    router.apply([Route("idle", ["idle.localhost"], [])])
    reply = get("idle.localhost")
    assert reply.status == 503
    assert "app idle has no running web instances" in reply.text
    assert "xae ps:scale web=1 --app idle" in reply.text
    page = get("idle.localhost", headers={"Accept": "text/html"})
    assert page.status == 503 and "<h1>" in page.text


def test_a_large_request_body_is_buffered_and_forwarded(
    router: NginxRouter, backend: StartBackend, get: Get
) -> None:
    web = backend("web")
    router.apply([Route("web", ["web.localhost"], [web.address])])
    body = os.urandom(3 * 1024 * 1024)
    reply = get("web.localhost", method="POST", body=body)
    assert reply.status == 200
    assert reply.json()["body_len"] == len(body)


def test_access_log_has_one_json_line_per_request(
    router: NginxRouter, backend: StartBackend, get: Get
) -> None:
    web = backend("web")
    router.apply([Route("web", ["web.localhost"], [web.address])])
    get("web.localhost", "/logged", headers={"X-Request-ID": "log-me-1"})

    def logged() -> list[dict[str, object]]:
        if not router.paths.access_log.exists():
            return []
        lines = router.paths.access_log.read_text().splitlines()
        return [e for e in map(json.loads, lines) if e["request_id"] == "log-me-1"]

    assert router_process.wait_until(lambda: bool(logged()), 10), "no access-log line in 10s"
    (entry,) = logged()
    assert entry["host"] == "web.localhost"
    assert entry["app"] == "web"
    assert entry["status"] == 200
    assert entry["upstream_addr"] == web.address
    assert isinstance(entry["request_time"], float | int)
    assert entry["upstream_response_time"]
    assert "time" in entry


def test_a_global_config_failing_nginx_t_leaves_the_old_config_serving(
    router: NginxRouter, backend: StartBackend, get: Get, monkeypatch: pytest.MonkeyPatch
) -> None:
    web = backend("web")
    router.apply([Route("web", ["web.localhost"], [web.address])])
    before = router.status().generation
    live = router.paths.conf.read_text()
    real_render = router.render

    def broken() -> str:
        return real_render().replace("http {", "http {\n    bogus_directive on;")

    monkeypatch.setattr(router, "render", broken)
    with pytest.raises(RouterFailure, match='unknown directive "bogus_directive"') as failure:
        router.start()  # a changed global config is the one thing that still reloads
    assert len(failure.value.message) < 800

    assert router.paths.conf.read_text() == live
    assert router.status().generation == before
    assert get("web.localhost").json()["name"] == "web"
    assert not list(router.paths.root.glob(".nginx.conf.*"))


def test_apply_of_an_unchanged_table_does_not_reload(
    router: NginxRouter, backend: StartBackend
) -> None:
    web = backend("web")
    routes = [Route("web", ["web.localhost"], [web.address])]
    router.apply(routes)
    generation = router.status().generation
    router.apply(list(routes))
    assert router.status().generation == generation


def test_switching_upstreams_under_load_fails_no_request(
    router: NginxRouter, backend: StartBackend, settings: Settings
) -> None:
    a, b = backend("a", "127.0.0.2"), backend("b", "127.0.0.3")
    router.apply([Route("web", ["web.localhost"], [a.address])])
    total, deadline = 500, time.monotonic() + 60
    served: list[str] = []
    failures: list[str] = []

    def load() -> None:
        while len(served) + len(failures) < total and time.monotonic() < deadline:
            try:
                reply = request(settings.router_port, "web.localhost", timeout=5)
            except OSError as e:
                failures.append(repr(e))
                continue
            if reply.status == 200:
                served.append(str(reply.json()["name"]))
            else:
                failures.append(f"HTTP {reply.status}")

    worker = threading.Thread(target=load, name="router-load")
    worker.start()
    try:
        assert router_process.wait_until(lambda: len(served) + len(failures) >= 100, 30)
        router.apply([Route("web", ["web.localhost"], [b.address])])
        a.close()  # apply returned: nothing may use A any more
        done_at_switch = len(served)
    finally:
        worker.join(timeout=90)
    assert not worker.is_alive()
    assert failures == []
    assert len(served) == total, f"only {len(served)} requests within the time bound"
    assert "a" in served[:done_at_switch] and served[-1] == "b"
    assert set(served[done_at_switch:]) == {"b"}


def test_port_in_use_is_reported_with_the_setting_to_change(settings: Settings) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.router_port))
        squatter.listen()
        r = NginxRouter(settings)
        try:
            with pytest.raises(PortInUse) as error:
                r.start()
        finally:
            kill_leftover_master(r)
    assert str(settings.router_port) in error.value.message
    assert "XAE_ROUTER_PORT" in error.value.message
    assert not r.status().running


CHILD = """
import sys
from xae.config import Settings
from xae.router import NginxRouter, Route
router = NginxRouter(Settings())
router.start()
router.apply([Route("survivor", ["survivor.localhost"], [sys.argv[1]])])
print("ready", flush=True)
sys.stdin.read()
"""


def test_router_outlives_a_killed_xae_and_start_adopts_it(
    settings: Settings, backend: StartBackend, get: Get
) -> None:
    web = backend("survivor")
    env = {
        **os.environ,
        "XAE_STATE_DIR": str(settings.state_dir),
        "XAE_ROUTER_HOST": settings.router_host,
        "XAE_ROUTER_PORT": str(settings.router_port),
        "XAE_TLS_PORT": str(settings.tls_port),
        "XAE_NGINX_BIN": settings.nginx_bin,
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, web.address],
        env=env,
        cwd=settings.state_dir,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    r = NginxRouter(settings)
    try:
        assert child.stdout is not None
        assert router_process.wait_until(lambda: r.status().running, 30)
        assert child.stdout.readline() == b"ready\n"
        pid = r.status().pid
        os.killpg(child.pid, signal.SIGKILL)  # xae and its whole process group die
        child.wait(timeout=10)

        assert get("survivor.localhost").json()["name"] == "survivor"
        r.start()
        status = r.status()
        assert status.running and status.pid == pid
        assert get("survivor.localhost").json()["name"] == "survivor"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdin, child.stdout):
            if stream:
                stream.close()
        try:
            r.stop()
        finally:
            kill_leftover_master(r)


def test_start_is_idempotent(router: NginxRouter) -> None:
    first = router.status()
    router.start()
    second = router.status()
    assert second.running and second.pid == first.pid
    assert second.generation == first.generation


def test_stop_leaves_no_nginx_process(router: NginxRouter, settings: Settings) -> None:
    status = router.status()
    assert status.running and status.pid is not None
    family = [status.pid, *router_process.children(status.pid)]
    assert len(family) >= 2

    router.stop()
    assert not any(map(router_process.is_alive, family))
    assert not router.status().running
    with pytest.raises(OSError):
        request(settings.router_port, "x.localhost", timeout=2)
    router.stop()  # stopping a stopped router is fine


def test_a_restarted_router_serves_the_last_applied_routes(
    router: NginxRouter, backend: StartBackend, get: Get
) -> None:
    web = backend("web")
    router.apply([Route("web", ["web.localhost"], [web.address])])
    router.stop()
    router.start()
    assert get("web.localhost").json()["name"] == "web"
    assert router.current_routes() == [Route("web", ["web.localhost"], [web.address])]


def test_many_apps_with_long_custom_domains_pass_nginx_t(router: NginxRouter, get: Get) -> None:
    label = "d" * 63
    routes = [
        Route(f"app{i}", [f"app{i}.localhost", f"{label}.{label}.custom{i}.example.com"], [])
        for i in range(1500)
    ]
    router.apply(routes)
    assert get(f"{label}.{label}.custom7.example.com").status == 503


def test_workers_do_not_run_as_root(router: NginxRouter) -> None:
    if os.geteuid() != 0:
        # Only root can make nginx switch its workers to another user; CI runs as root, so
        # this always runs there.
        pytest.skip("nginx started by a non-root user cannot switch users: nothing to check")
    status = router.status()
    assert status.pid is not None
    for worker in router_process.active_workers(status.pid):
        uid_line = next(
            line
            for line in Path(f"/proc/{worker}/status").read_text().splitlines()
            if line.startswith("Uid:")
        )
        assert uid_line.split()[1] != "0"


def test_large_bodies_work_even_when_the_state_dir_is_closed_to_others(
    state_dir: Path, backend: StartBackend
) -> None:
    assert state_dir.stat().st_mode & 0o777 == 0o700  # closed to nginx's workers (`nobody`)
    settings = Settings(
        state_dir=state_dir / "state",
        router_host="127.0.0.1",
        router_port=free_port(),
        tls_port=free_port(),
        nginx_bin=NGINX,
    )
    web = backend("web")
    r = NginxRouter(settings)
    try:
        r.apply([Route("web", ["web.localhost"], [web.address])])
        body = os.urandom(1024 * 1024)
        reply = request(settings.router_port, "web.localhost", method="POST", body=body)
        assert reply.status == 200 and reply.json()["body_len"] == len(body)
    finally:
        try:
            r.stop()
        finally:
            kill_leftover_master(r)
