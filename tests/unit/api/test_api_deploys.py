"""Deploying a ready-made image over HTTP: `POST /v1/apps/{name}/deploys/image`."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select
from tests.unit import deployfakes
from tests.unit.fakes import World, add_build, deploy

from xae.codecenter import image_policy
from xae.codecenter.deploy import DeployPipeline
from xae.control.apps import create_app
from xae.store.models import Build, Event

if TYPE_CHECKING:
    from starlette.testclient import TestClient

IMAGE = "registry.example.com:5000/team/shop:v2"
PUBLIC = "198.51.100.7"


@pytest.fixture(autouse=True)
def registry_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """`registry.example.com` resolves to an address outside the platform (there may be no
    DNS here); other names resolve as usual (`localhost`; `.example` names do not)."""
    real = image_policy.resolve_host

    def resolve(host: str) -> list[str]:
        return [PUBLIC] if host == "registry.example.com" else real(host)

    monkeypatch.setattr("xae.codecenter.image_policy.resolve_host", resolve)


def events_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def builds(world: World) -> list[Build]:
    with world.db.session() as session:
        rows = list(session.scalars(select(Build).order_by(Build.id)))
        session.expunge_all()
    return rows


def test_an_image_deploy_streams_progress_and_releases_the_image_as_given(
    world: World, client: TestClient, shop: str
) -> None:
    response = client.post(f"/v1/apps/{shop}/deploys/image", json={"image": IMAGE})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    events = events_of(response.text)
    assert {e["event"] for e in events[:-1]} == {"step"}
    assert any("releasing v1" in e["message"] for e in events[:-1])
    done = events[-1]
    assert done["event"] == "done"
    assert done["url"] == "http://shop.localhost:8080/"
    assert done["release"]["version"] == 1
    assert done["release"]["status"] == "succeeded"
    assert done["release"]["image"] == IMAGE
    assert done["release"]["description"] == f"Deploy image {IMAGE}"
    assert done["processes"] == {"web": 1}

    [build] = builds(world)
    assert (build.status, build.stack, build.image, build.port) == (
        "succeeded",
        "image",
        IMAGE,
        5000,
    )
    assert build.processes == {"web": ""}
    assert build.log == f"deployed from image {IMAGE}"
    assert build.finished_at is not None
    [web] = world.runtime.of(shop, "web")
    spec = world.runtime.spec_of(web)
    assert (spec.image, spec.port, spec.command) == (IMAGE, 5000, "")  # "" = the image's CMD
    assert world.router.served()[shop] == [f"{web.address}:5000"]


def test_the_port_and_command_given_are_what_the_web_process_runs(
    world: World, client: TestClient, shop: str
) -> None:
    response = client.post(
        f"/v1/apps/{shop}/deploys/image",
        json={"image": "nginx:1.27", "port": 8080, "command": "  serve-static  "},
    )

    assert events_of(response.text)[-1]["event"] == "done"
    [web] = world.runtime.of(shop, "web")
    spec = world.runtime.spec_of(web)
    assert (spec.port, spec.command) == (8080, "serve-static")
    info = client.get(f"/v1/apps/{shop}").json()
    assert info["formation"] == [
        {
            "type": "web",
            "quantity": 1,
            "memory": "512M",
            "cpus": 1.0,
            "command": "serve-static",
            "read_only": False,
        }
    ]


def test_an_image_deploy_follows_a_built_release_and_is_audited(
    world: World, client: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    client.patch(f"/v1/apps/{shop}/config", json={"GREETING": "hi"})

    response = client.post(f"/v1/apps/{shop}/deploys/image", json={"image": "nginx:1.27"})

    assert events_of(response.text)[-1]["release"]["version"] == 3
    releases = client.get(f"/v1/apps/{shop}/releases").json()
    assert [(r["version"], r["image"], r["status"]) for r in releases] == [
        (3, "nginx:1.27", "succeeded"),
        (2, "img:1", "succeeded"),
        (1, "img:1", "succeeded"),
    ]
    assert releases[0]["config_keys"] == ["GREETING"]  # config carries over, as for builds
    [web] = world.runtime.of(shop, "web")
    assert world.runtime.spec_of(web).env == {"GREETING": "hi"}
    with world.db.session() as session:
        event = session.scalars(
            select(Event).where(Event.action == "build").order_by(Event.id.desc())
        ).first()
        assert event is not None
        assert (event.actor, event.target, event.result) == ("alice", shop, "ok")
        assert event.details["stack"] == "image"
        assert event.details["image"] == "nginx:1.27"


def test_rolling_back_from_an_image_deploy_returns_to_the_built_release(
    world: World, client: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    client.post(f"/v1/apps/{shop}/deploys/image", json={"image": "nginx:1.27"})

    response = client.post(f"/v1/apps/{shop}/rollback", json={})

    assert response.json()["image"] == "img:1"
    [web] = world.runtime.of(shop, "web")
    assert world.runtime.spec_of(web).image == "img:1"


def test_an_image_that_does_not_start_is_an_error_event_and_the_old_release_keeps_serving(
    world: World, client: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    [old] = world.runtime.of(shop, "web")
    world.runtime.failing_images.add("nginx:nope")

    response = client.post(f"/v1/apps/{shop}/deploys/image", json={"image": "nginx:nope"})

    last = events_of(response.text)[-1]
    assert last["event"] == "error"
    assert last["error"]["code"] == "deploy_failed"
    assert "nginx:nope" in last["error"]["message"]
    statuses = [r["status"] for r in client.get(f"/v1/apps/{shop}/releases").json()]
    assert statuses == ["failed", "succeeded"]
    assert client.get(f"/v1/apps/{shop}").json()["release"] == 1
    assert world.runtime.of(shop, "web") == [old]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"image": ""}, "an image reference is required"),
        ({"image": "nginx latest"}, "spaces or control characters"),
        ({"image": "Nginx:1"}, "lowercase name"),
        ({"image": "--privileged"}, "[registry[:port]/]name[:tag][@sha256:digest]"),
        ({"image": "a" * 256}, "use at most 255"),
        ({"image": "nginx", "port": 0}, "between 1 and 65535"),
        ({"image": "nginx", "port": 65536}, "between 1 and 65535"),
        ({"image": "nginx", "command": "a\nb"}, "one line"),
        ({"image": "nginx", "port": "http"}, "port:"),
        ({"port": 8080}, "image: Field required"),
    ],
)
def test_a_bad_image_deploy_is_422_before_anything_is_recorded(
    world: World, client: TestClient, shop: str, body: dict[str, Any], says: str
) -> None:
    response = client.post(f"/v1/apps/{shop}/deploys/image", json=body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert says in error["message"]
    assert builds(world) == []
    assert client.get(f"/v1/apps/{shop}/releases").json() == []


def test_someone_elses_app_is_404_as_if_it_did_not_exist(
    world: World, client: TestClient, shop: str
) -> None:
    bob = {"Authorization": f"Bearer {world.token('bob')}"}

    response = client.post(
        f"/v1/apps/{shop}/deploys/image", json={"image": "nginx:1.27"}, headers=bob
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert builds(world) == []


def test_an_unknown_app_is_404_even_with_a_bad_reference(client: TestClient) -> None:
    response = client.post("/v1/apps/nope/deploys/image", json={"image": "Bad Ref"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_admin_may_deploy_an_image_to_any_app(
    world: World, client: TestClient, shop: str
) -> None:
    root = {"Authorization": f"Bearer {world.token('root')}"}
    response = client.post(
        f"/v1/apps/{shop}/deploys/image", json={"image": "nginx:1.27"}, headers=root
    )
    assert events_of(response.text)[-1]["release"]["created_by"] == "root"


def test_an_image_deploy_without_a_token_is_401(anonymous: TestClient) -> None:
    response = anonymous.post("/v1/apps/shop/deploys/image", json={"image": "nginx:1.27"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_the_openapi_document_lists_the_image_deploy(anonymous: TestClient) -> None:
    paths = anonymous.get("/openapi.json").json()["paths"]
    operation = paths["/v1/apps/{name}/deploys/image"]["post"]
    assert operation["tags"] == ["deploys"]


@pytest.mark.parametrize(
    ("image", "code", "says"),
    [
        ("xae/app-bank:b1", "image_not_allowed", "not a build of app shop"),
        ("docker.io/xae/app-bank:b1", "image_not_allowed", "not a build of app shop"),
        ("xae/base:latest", "image_not_allowed", "xae's own image namespace"),
        ("3db4639b4b4f", "image_not_allowed", "ID of an image"),
        ("127.0.0.1:8080/x:v1", "registry_not_allowed", "a loopback address"),
        ("localhost:8080/x:v1", "registry_not_allowed", "localhost resolves to a loopback"),
        ("169.254.169.254/latest:v1", "registry_not_allowed", "a link-local address"),
        ("nowhere.example:5000/x:v1", "registry_not_allowed", "does not resolve"),
    ],
)
def test_an_image_the_app_may_not_run_is_403_before_the_stream_and_nothing_is_recorded(
    world: World, client: TestClient, shop: str, image: str, code: str, says: str
) -> None:
    create_app(world.platform, world.user("bob"), "bank")
    add_build(world.platform, "bank", "xae/app-bank:b1")

    response = client.post(f"/v1/apps/{shop}/deploys/image", json={"image": image})

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert says in error["message"]
    assert [b.image for b in builds(world)] == ["xae/app-bank:b1"]
    assert client.get(f"/v1/apps/{shop}/releases").json() == []
    assert world.runtime.of(shop) == []


def test_an_app_redeploys_its_own_build_by_reference(
    world: World, client: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "xae/app-shop:b1")

    response = client.post(
        f"/v1/apps/{shop}/deploys/image", json={"image": "docker.io/xae/app-shop:b1"}
    )

    assert events_of(response.text)[-1]["release"]["image"] == "xae/app-shop:b1"
    [web] = world.runtime.of(shop, "web")
    assert world.runtime.spec_of(web).image == "xae/app-shop:b1"


def _source_tarball(size: int = 16) -> bytes:
    data = b"x" * size
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("index.html")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def fake_build(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Builds without Docker: the fake records the source it was given."""
    sources: list[bytes] = []

    def record(src: Path) -> None:
        sources.append((src / "index.html").read_bytes())

    build = deployfakes.fake_build(["-----> static app detected"], check=record)
    monkeypatch.setattr(deployfakes.BUILD_IMAGE, build)
    monkeypatch.setattr(DeployPipeline, "docker", property(lambda _: object()))
    return sources


def test_a_source_upload_is_spooled_built_and_released(
    world: World, client: TestClient, shop: str, fake_build: list[bytes]
) -> None:
    body = _source_tarball(3 << 20)  # more than one write to the spool

    response = client.post(f"/v1/apps/{shop}/deploys", content=body)

    events = events_of(response.text)
    assert fake_build == [b"x" * (3 << 20)]
    assert [e["message"] for e in events if e["event"] == "step"][:3] == [
        "unpacking source",
        "building image",
        "releasing v1",
    ]
    assert {"event": "log", "line": "-----> static app detected"} in events
    assert events[-1]["event"] == "done"
    assert events[-1]["release"]["description"] == "Deploy build 1 (static)"
    assert [b.status for b in builds(world)] == ["succeeded"]


def test_an_upload_over_the_limit_is_413_and_records_nothing(
    world: World,
    client: TestClient,
    shop: str,
    fake_build: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(world.platform.settings, "max_upload_bytes", 10_000)

    response = client.post(f"/v1/apps/{shop}/deploys", content=_source_tarball(20_000))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload_too_large"
    assert "larger than 10000 bytes" in response.json()["error"]["message"]
    assert (fake_build, builds(world)) == ([], [])
    assert list(world.platform.settings.builds_dir.iterdir()) == []
