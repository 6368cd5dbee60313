"""Real traffic through the real router, as apps and their users see it: WebSockets that live
through route changes, server-sent events that arrive as they are sent, the X-Forwarded-* and
X-Request-ID headers an app can trust, the router's access log and its own error pages, and an
app's body-size and read-timeout limits.

The app is `tests/fixtures/apps/traffic` (standard library only): a WebSocket echo, an event
stream, a headers echo, a slow endpoint and an upload sink."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.harness import FIXTURES, Plane, wait_for
from websockets.sync.client import connect

pytestmark = [pytest.mark.e2e]

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def traffic(plane: Plane, tmp_path_factory: pytest.TempPathFactory) -> str:
    source = tmp_path_factory.mktemp("traffic") / "app"
    shutil.copytree(FIXTURES / "traffic", source)
    app = plane.new_app("trf")
    plane.deploy(app, source)
    wait_for(lambda: plane.serving(app, "traffic fixture"), 30, "the traffic app to serve")
    return app


def router_url(plane: Plane, path: str) -> str:
    return f"http://127.0.0.1:{plane.router_port}{path}"


def host_of(plane: Plane, app: str) -> str:
    return f"{app}.localhost:{plane.router_port}"


def raw_request(plane: Plane, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `head` (a request without body, ending in a blank line) byte for byte, as a client
    that does not check its own headers would; answer (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", plane.router_port), timeout=10) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    top, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = top.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def access_entries(plane: Plane) -> list[dict[str, Any]]:
    log = plane.state_dir / "router" / "access.log"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def access_entry(plane: Plane, request_id: str) -> dict[str, Any]:
    """The access log's line for `request_id` (the log is flushed every second)."""
    found: dict[str, Any] = wait_for(
        lambda: next((e for e in access_entries(plane) if e["request_id"] == request_id), None),
        10,
        f"the access log line of request {request_id}",
    )
    return found


def router_pids(plane: Plane) -> set[int]:
    """The router's nginx processes: a reload would replace the workers."""
    master = int((plane.state_dir / "router" / "nginx.pid").read_text().strip())
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {master, *map(int, children)}


class Echoer:
    """Keeps a WebSocket echoing (one message every 100 ms) in a thread until stopped; counts
    the round trips and keeps the first failure."""

    def __init__(self, plane: Plane, app: str) -> None:
        sock = socket.create_connection(("127.0.0.1", plane.router_port), timeout=10)
        self.ws = connect(f"ws://{host_of(plane, app)}/ws", sock=sock, proxy=None)
        self.hello = str(self.ws.recv(timeout=10))
        self.count = 0
        self.failure: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self.stop.is_set() and self.count < 20000:
                message = f"message {self.count}"
                self.ws.send(message)
                assert self.ws.recv(timeout=5) == message
                self.count += 1
                self.stop.wait(0.1)
        except BaseException as e:  # noqa: BLE001 - kept for the test to report
            self.failure = e

    def __enter__(self) -> Echoer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=15)
        self.ws.close()

    def alive_for(self, more: int) -> None:
        """Wait until `more` further round trips went through (fail on the first error)."""
        target = self.count + more
        wait_for(lambda: self.failure is not None or self.count >= target, 30, "echoes")
        assert self.failure is None, f"the WebSocket failed: {self.failure!r}"


@pytest.mark.backends("docker")
def test_a_websocket_keeps_echoing_through_route_changes(
    plane: Plane, traffic: str, app_source: Callable[[str], Path]
) -> None:
    other = plane.new_app("trfo")
    plane.deploy(other, app_source("static"))
    pids = router_pids(plane)
    with Echoer(plane, traffic) as echo:
        assert echo.hello.startswith("hello from ")
        echo.alive_for(5)

        # Another app's route changes (a new release, new upstreams).
        plane.deploy(other, app_source("static"))
        echo.alive_for(5)

        # The echo app's own route changes: a second instance joins its upstreams.
        plane.xae("ps:scale", "web=2", "--app", traffic)
        answered: set[str] = set()

        def both_serve() -> bool:
            answered.add(plane.get(traffic).text.strip())
            return len(answered) >= 2

        wait_for(both_serve, 120, "both instances to answer through the router")
        echo.alive_for(10)
        assert echo.ws.close_code is None
    assert echo.failure is None, f"the WebSocket failed: {echo.failure!r}"
    assert router_pids(plane) == pids  # nothing reloaded nginx: routes changed in place
    plane.xae("ps:scale", "web=1", "--app", traffic)
    wait_for(lambda: len(plane.instances(traffic)) == 1, 120, "one instance again")


def test_server_sent_events_arrive_as_they_are_sent(plane: Plane, traffic: str) -> None:
    # An EventSource asks for `text/event-stream`; any other client streams when the app
    # says `X-Accel-Buffering: no`.
    for accept, query in (("text/event-stream", ""), ("*/*", "&accel=no")):
        start = time.monotonic()
        arrivals: list[float] = []
        with httpx.stream(
            "GET",
            router_url(plane, f"/events?n=10{query}"),
            headers={"Host": host_of(plane, traffic), "Accept": accept},
            timeout=10,
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    arrivals.append(time.monotonic() - start)
        assert len(arrivals) == 10
        # The stream lasts ~2 s: the first event comes at once, not with the last one.
        assert arrivals[0] < 1.0, (accept, arrivals)
        assert arrivals[-1] - arrivals[0] > 1.2, (accept, arrivals)


def _seen(response_text: str) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = json.loads(response_text)
    return seen


SPOOFED = {
    "X-Forwarded-For": "6.6.6.6",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "bank.example",
    "X-Forwarded-Port": "1",
    "X-Real-IP": "6.6.6.6",
    "Forwarded": "for=6.6.6.6;proto=https;host=bank.example",
    "X-Forwarded-Ssl": "on",
    "X-Forwarded-Scheme": "https",
}


def test_forwarded_headers_are_the_routers_not_the_clients(
    plane: Plane, traffic: str, tmp_path: Path
) -> None:
    host = host_of(plane, traffic)
    response = httpx.get(
        router_url(plane, "/headers"), headers={"Host": host, **SPOOFED}, timeout=10
    )
    assert response.status_code == 200
    seen = _seen(response.text)
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-real-ip"] == ["127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-forwarded-host"] == [host]
    assert seen["x-forwarded-port"] == [str(plane.router_port)]
    for dropped in ("forwarded", "x-forwarded-ssl", "x-forwarded-scheme"):
        assert dropped not in seen, seen

    # HTTPS, trusting the local CA as a user would.
    ca = tmp_path / "xae-ca.crt"
    ca.write_text(plane.xae("certs:ca").stdout)
    name = f"{traffic}.localhost"
    spoofed = [arg for k, v in SPOOFED.items() for arg in ("-H", f"{k}: {v}")]
    done = subprocess.run(
        [
            "curl", "-sS", "--max-time", "20", "--cacert", str(ca),
            "--resolve", f"{name}:{plane.tls_port}:127.0.0.1", *spoofed,
            f"https://{name}:{plane.tls_port}/headers",
        ],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = _seen(done.stdout)
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["https"]
    assert seen["x-forwarded-host"] == [f"{name}:{plane.tls_port}"]
    assert seen["x-forwarded-port"] == [str(plane.tls_port)]
    for dropped in ("forwarded", "x-forwarded-ssl", "x-forwarded-scheme"):
        assert dropped not in seen, seen


def test_a_valid_request_id_is_kept_and_an_invalid_one_replaced(plane: Plane, traffic: str) -> None:
    host = host_of(plane, traffic)
    kept = "req-2026.12:01@edge+a=b/c_" + "x" * 100  # 126 characters of the allowed set
    response = httpx.get(
        router_url(plane, "/headers"), headers={"Host": host, "X-Request-ID": kept}, timeout=10
    )
    assert _seen(response.text)["x-request-id"] == [kept]
    assert response.headers["x-request-id"] == kept
    assert access_entry(plane, kept)["app"] == traffic

    generated = httpx.get(router_url(plane, "/headers"), headers={"Host": host}, timeout=10)
    minted = generated.headers["x-request-id"]
    assert GENERATED_ID.match(minted)
    assert _seen(generated.text)["x-request-id"] == [minted]

    for bad in (b"y" * 129, b"has space", b"bell\x07", b"caf\xc3\xa9", b"quote\"'"):
        head = (
            b"GET /headers HTTP/1.1\r\nHost: " + host.encode() + b"\r\nX-Request-ID: " + bad
            + b"\r\nConnection: close\r\n\r\n"
        )  # fmt: skip
        status, headers, body = raw_request(plane, head)
        assert status == 200, (bad, status)
        replaced = headers["x-request-id"]
        assert GENERATED_ID.match(replaced), (bad, replaced)
        assert _seen(body.decode())["x-request-id"] == [replaced]

    # CR/LF cannot ride in a header value: nginx refuses the request as malformed, or the
    # line ends at the LF and the id is what stood before it; never is the CR/LF passed on.
    for bad in (b"cr\rinjected", b"lf\nX-Injected: 1"):
        head = (
            b"GET /headers HTTP/1.1\r\nHost: " + host.encode() + b"\r\nX-Request-ID: " + bad
            + b"\r\nConnection: close\r\n\r\n"
        )  # fmt: skip
        status, headers, body = raw_request(plane, head)
        if status == 200:
            ids = _seen(body.decode())["x-request-id"]
            assert all("\r" not in i and "\n" not in i for i in ids), ids
        else:
            assert status == 400, (bad, status)


def test_the_access_log_and_the_routers_own_pages(plane: Plane, traffic: str) -> None:
    host = host_of(plane, traffic)
    response = httpx.get(
        router_url(plane, "/"), headers={"Host": host, "X-Request-ID": "log-ok-1"}, timeout=10
    )
    assert response.status_code == 200
    entry = access_entry(plane, "log-ok-1")
    assert entry["app"] == traffic
    assert entry["status"] == 200
    if plane.backend == "docker":  # the endpoint watch of kubernetes does not name releases
        assert re.fullmatch(r"v\d+", entry["release"]), entry
    assert re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}:\d+", entry["upstream_addr"]), entry
    assert entry["bytes"] == len(response.content)
    assert isinstance(entry["request_time"], float | int)
    assert float(entry["upstream_response_time"]) >= 0
    assert entry["method"] == "GET" and entry["path"] == "/"

    # An unknown host: the 404 page, logged without an app.
    unknown = f"nobody-{traffic}.localhost"
    response = httpx.get(
        router_url(plane, "/"),
        headers={"Host": unknown, "X-Request-ID": "log-404-1"},
        timeout=10,
    )
    assert response.status_code == 404
    assert f"404: no app is at {unknown}." in response.text
    assert "xae apps:create NAME" in response.text
    entry = access_entry(plane, "log-404-1")
    assert (entry["status"], entry["app"], entry["upstream_addr"]) == (404, "-", "")
    html = httpx.get(
        router_url(plane, "/"), headers={"Host": unknown, "Accept": "text/html"}, timeout=10
    )
    assert html.status_code == 404 and f"No app is at {unknown}" in html.text

    # The app at zero instances: the 503 page, logged with the app.
    plane.xae("ps:scale", "web=0", "--app", traffic)
    try:
        wait_for(lambda: plane.get(traffic).status_code == 503, 120, "the 503 page")
        response = httpx.get(
            router_url(plane, "/"),
            headers={"Host": host, "X-Request-ID": "log-503-1"},
            timeout=10,
        )
        assert response.status_code == 503
        assert f"503: app {traffic} has no running web instances." in response.text
        assert f"xae ps:scale web=1 --app {traffic}" in response.text
        entry = access_entry(plane, "log-503-1")
        assert (entry["status"], entry["app"], entry["upstream_addr"]) == (503, traffic, "")
    finally:
        plane.xae("ps:scale", "web=1", "--app", traffic)
        wait_for(lambda: plane.serving(traffic, "traffic fixture"), 120, "the app again")


@pytest.mark.backends("docker")
def test_an_apps_body_size_and_read_timeout_limits(plane: Plane, traffic: str) -> None:
    host = host_of(plane, traffic)
    big, small = b"x" * (2 * 1024 * 1024), b"x" * (512 * 1024)

    def upload(body: bytes) -> httpx.Response:
        return httpx.post(
            router_url(plane, "/upload"), headers={"Host": host}, content=body, timeout=30
        )

    def slow(seconds: int) -> tuple[httpx.Response, float]:
        start = time.monotonic()
        response = httpx.get(
            router_url(plane, f"/slow?s={seconds}"), headers={"Host": host}, timeout=30
        )
        return response, time.monotonic() - start

    assert upload(big).text == f"received {len(big)} bytes\n"
    plane.xae("apps:update", "--max-body", "1M", "--read-timeout", "2", "--app", traffic)
    try:
        wait_for(lambda: upload(big).status_code == 413, 15, "the 2 MiB upload to get 413")
        refused = upload(big)
        assert f"413: the request body is larger than app {traffic} accepts." in refused.text
        assert f"xae apps:update --max-body 50M --app {traffic}" in refused.text
        assert upload(small).text == f"received {len(small)} bytes\n"
        response, took = slow(5)
        assert response.status_code == 504
        assert 1.5 < took < 3.5, took
        assert f"504: app {traffic} did not answer in time." in response.text
    finally:
        plane.xae("apps:update", "--max-body", "default", "--read-timeout", "0", "--app", traffic)
    wait_for(lambda: upload(big).status_code == 200, 15, "the default body limit again")
    assert slow(3)[0].status_code == 200
