"""`xae deploy --image`: an image a user already has is released without a build, and an image
reference can neither borrow another app's build nor make the platform send requests inside
itself (issue 7, findings 3 and 4).

The images come from real source deploys of the static fixture, so they exist on the Docker
engine (or in the cluster's registry) the plane runs on. The "registry" of the SSRF tests is a
small HTTP server started here on loopback that answers everything with a recognisable secret.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import secrets
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from tests.e2e.harness import BIN, Plane, free_port

pytestmark = [pytest.mark.e2e]

STATIC_PORT = "5000"
"""The static stack's `serve-static` listens on $PORT, which xae sets to the default 5000."""
SECRET = f"SECRET-{secrets.token_hex(8)}"
ALLOWED_LOOPBACK = "127.0.0.2"
"""The registry host the allow-list plane lets image deploys reach (127.0.0.1 stays refused)."""


@dataclass
class SecretServer:
    """An HTTP server that answers every request with 404 and the secret, and counts them."""

    host: str
    port: int = 0
    requests: list[str] = field(default_factory=list)


@contextlib.contextmanager
def secret_server(host: str = "127.0.0.1") -> Iterator[SecretServer]:
    state = SecretServer(host=host)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(f"{self.command} {self.path}")
            body = f'{{"errors":[{{"code":"X","message":"{SECRET}"}}]}}'.encode()
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET
        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            return None

        def log_error(self, *args: object) -> None:
            state.requests.append("unparsable request")  # e.g. a TLS hello

    server = http.server.ThreadingHTTPServer((host, 0), Handler)
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def built_image(plane: Plane, app: str, source: Path) -> str:
    plane.deploy(app, source)
    [built] = plane.xae_json("releases", "--app", app)
    image: str = built["image"]
    assert f"xae/app-{app}:" in image  # `<registry>/` in front on kubernetes
    return image


def post_image(plane: Plane, app: str, image: str) -> httpx.Response:
    return httpx.post(
        f"{plane.api}/v1/apps/{app}/deploys/image",
        json={"image": image},
        headers={"Authorization": f"Bearer {plane.token}"},
        timeout=30,
    )


def test_an_app_cannot_deploy_another_apps_build_by_any_spelling(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    victim = plane.new_app("victim")
    image = built_image(plane, victim, app_source("static"))
    local = image.split("/", 1)[1] if image.count("/") > 1 else image  # without the registry
    tag = local.rsplit(":", 1)[1]
    attacker = plane.new_app("attacker")

    for ref in (
        image,
        local,
        f"docker.io/{local}",
        f"index.docker.io/{local}",
        f"xae/app-{victim}:{tag.rsplit('-', 1)[-1]}",
    ):
        refused = plane.xae(
            "deploy",
            "--image",
            ref,
            "--port",
            STATIC_PORT,
            "--command",
            "serve-static",
            "--app",
            attacker,
            check=False,
        )
        assert refused.returncode == 1, refused.stdout
        assert f"is not a build of app {attacker}" in refused.stderr
        assert f"xae releases --app {attacker}" in refused.stderr

        response = post_image(plane, attacker, ref)
        assert response.status_code == 403  # refused before any stream starts
        assert response.json()["error"]["code"] == "image_not_allowed"

    assert plane.xae_json("releases", "--app", attacker) == []
    assert plane.instances(attacker) == []
    assert plane.serving(victim, "hello from the xae static fixture")


def test_an_app_redeploys_its_own_build_by_reference(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app = plane.new_app("own")
    image = built_image(plane, app, app_source("static"))
    local = image.split("/", 1)[1] if image.count("/") > 1 else image

    result = plane.xae(
        "deploy",
        "--image",
        f"docker.io/{local}",
        "--port",
        STATIC_PORT,
        "--command",
        "serve-static",
        "--app",
        app,
    )

    assert "no build" in result.stdout
    assert "deployed v2" in result.stdout
    latest = plane.xae_json("releases", "--app", app)[0]
    assert (latest["version"], latest["image"], latest["status"]) == (2, image, "succeeded")
    assert plane.serving(app, "hello from the xae static fixture")


@pytest.mark.backends("docker")
def test_an_image_from_outside_xaes_namespace_serves_without_a_build(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    """An operator-tagged local image stands in for one pulled from a public registry."""
    first = plane.new_app("built")
    image = built_image(plane, first, app_source("static"))
    mine = f"e2e-{secrets.token_hex(3)}/static:v1"
    subprocess.run(["docker", "tag", image, mine], check=True, capture_output=True)
    second = plane.new_app("image")
    try:
        result = plane.xae(
            "deploy",
            "--image",
            mine,
            "--port",
            STATIC_PORT,
            "--command",
            "serve-static",
            "--app",
            second,
        )
        assert "no build" in result.stdout
        assert "deployed v1" in result.stdout
        response = plane.get(second)
        assert response.status_code == 200
        assert "hello from the xae static fixture" in response.text
        [release] = plane.xae_json("releases", "--app", second)
        assert (release["image"], release["status"]) == (mine, "succeeded")
        assert release["description"] == f"Deploy image {mine}"
        [web] = plane.xae_json("ps", "--app", second)["formation"]
        assert (web["type"], web["command"]) == ("web", "serve-static")

        refused = plane.xae("deploy", "--image", "Not An Image", "--app", second, check=False)
        assert refused.returncode == 1
        assert "spaces or control characters" in refused.stderr
        assert len(plane.xae_json("releases", "--app", second)) == 1
    finally:
        plane.xae("apps:destroy", second, "--confirm", second, check=False)
        plane.apps.remove(second)
        subprocess.run(["docker", "rmi", mine], capture_output=True)


def test_a_registry_on_loopback_is_refused_before_any_request_reaches_it(plane: Plane) -> None:
    app = plane.new_app("ssrf")
    with secret_server() as server:
        for ref in (
            f"127.0.0.1:{server.port}/x:v1",
            f"localhost:{server.port}/x:v1",
            f"0.0.0.0:{server.port}/x:v1",
        ):
            refused = plane.xae("deploy", "--image", ref, "--app", app, check=False)
            assert refused.returncode == 1
            assert "inside the platform" in refused.stderr
            assert "XAE_ALLOWED_REGISTRIES=" in refused.stderr
            assert SECRET not in refused.stdout + refused.stderr

            response = post_image(plane, app, ref)
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "registry_not_allowed"

        for link_local in ("169.254.169.254/latest/meta-data:v1", "169.254.0.1:80/x:v1"):
            response = post_image(plane, app, link_local)
            assert response.json()["error"]["code"] == "registry_not_allowed"
        assert server.requests == []
    assert plane.xae_json("releases", "--app", app) == []


@pytest.fixture(scope="module")
def allow_listed_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    """A plane of its own whose operator allowed image deploys to pull from 127.0.0.2."""
    state = tmp_path_factory.mktemp("xae-e2e-allowlist")
    name = f"e2e{secrets.token_hex(2)}"
    env = {
        **os.environ,
        "XAE_STATE_DIR": str(state / "state"),
        "XAE_API_PORT": str(free_port()),
        "XAE_ROUTER_PORT": str(free_port()),
        "XAE_TLS_PORT": str(free_port()),
        "XAE_PLANE": name,
        "XAE_BACKEND": "docker",
        "XAE_DRAIN_SECONDS": "3",
        "XAE_ALLOWED_REGISTRIES": ALLOWED_LOOPBACK,
        "XDG_CONFIG_HOME": str(state / "config"),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    env.pop("XAE_TOKEN", None)
    env.pop("XAE_API_URL", None)
    p = Plane(
        env=env,
        state_dir=state / "state",
        api_port=int(env["XAE_API_PORT"]),
        router_port=int(env["XAE_ROUTER_PORT"]),
        name=name,
    )
    p.admin("start")
    try:
        p.admin("bootstrap")
        yield p
    finally:
        for app in p.apps:
            p.xae("apps:destroy", app, "--confirm", app, check=False)
        subprocess.run([str(BIN / "xae-admin"), "stop"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(state, ignore_errors=True)


@pytest.mark.backends("docker")
def test_an_allowed_registrys_error_is_named_without_its_body(
    plane: Plane, allow_listed_plane: Plane
) -> None:
    """`plane` only picks the backend; the test runs on a plane with an allow-list."""
    p = allow_listed_plane
    app = p.new_app("allowed")
    with secret_server(ALLOWED_LOOPBACK) as server:
        image = f"{ALLOWED_LOOPBACK}:{server.port}/x:v1"

        failed = p.xae("deploy", "--image", image, "--app", app, check=False)

        assert server.requests, "the allowed registry was never asked"
        assert failed.returncode == 1
        assert f"the image {image} cannot be pulled" in failed.stderr
        assert SECRET not in failed.stdout + failed.stderr

        still_refused = p.xae(
            "deploy", "--image", f"127.0.0.1:{server.port}/x:v1", "--app", app, check=False
        )
        assert "inside the platform" in still_refused.stderr
    [release] = p.xae_json("releases", "--app", app)
    assert release["status"] == "failed"
    kept = [f for f in p.state_dir.rglob("*") if f.is_file()]  # logs, the store, its WAL
    assert kept and not [f for f in kept if SECRET.encode() in f.read_bytes()]
