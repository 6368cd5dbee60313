"""The builds and hooks routes: history, one build, its log, cancel; hooks whose secret is
shown once, refused when they point inside the platform; releases that show their commit."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.unit.deployfakes import BUILD_IMAGE, fake_build, static_tarball
from tests.unit.fakes import World

from xae.codecenter.deploy import DeployPipeline
from xae.control.apps import get_app
from xae.domain.builds import BuildSource
from xae.store.models import Hook


@pytest.fixture
def pushed(world: World, shop: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`shop` deployed once from a git push."""

    monkeypatch.setattr(BUILD_IMAGE, fake_build(["-----> static app detected"]))
    with world.db.session() as session:
        app = get_app(session, shop)
    source = BuildSource(
        kind="git", commit="c0ffee" + "0" * 34, message="Add a page", branch="main"
    )
    DeployPipeline(world.platform).run(world.user(), app, static_tarball(), print, source=source)
    return shop


def test_builds_are_listed_with_their_source_and_release(client: TestClient, pushed: str) -> None:
    [build] = client.get(f"/v1/apps/{pushed}/builds").json()
    assert {k: build[k] for k in ("id", "status", "source", "commit", "commit_message")} == {
        "id": 1,
        "status": "succeeded",
        "source": "git",
        "commit": "c0ffee" + "0" * 34,
        "commit_message": "Add a page",
    }
    assert build["release"] == 1 and build["started_by"] == "alice"
    assert build["duration"] is not None and build["duration"] >= 0
    assert client.get(f"/v1/apps/{pushed}/builds/1").json() == build
    log = client.get(f"/v1/apps/{pushed}/builds/1/log").json()
    assert (log["log"], log["kept"]) == ("-----> static app detected", True)


def test_a_release_shows_the_commit_it_was_built_from(client: TestClient, pushed: str) -> None:
    [release] = client.get(f"/v1/apps/{pushed}/releases").json()
    assert (release["commit"], release["commit_message"]) == ("c0ffee" + "0" * 34, "Add a page")


def test_an_unknown_build_is_404_and_a_finished_one_cannot_be_cancelled(
    client: TestClient, pushed: str
) -> None:
    missing = client.get(f"/v1/apps/{pushed}/builds/99")
    assert missing.status_code == 404
    assert "xae builds --app shop" in missing.json()["error"]["message"]
    refused = client.post(f"/v1/apps/{pushed}/builds/1/cancel")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == (
        "build 1 of shop is succeeded already: nothing to cancel"
    )


def test_a_hooks_secret_is_shown_once_and_stored_sealed(
    world: World, client: TestClient, shop: str
) -> None:
    added = client.post(
        f"/v1/apps/{shop}/hooks", json={"url": "https://1.1.1.1/x", "events": ["deploy"]}
    )
    assert added.status_code == 201, added.text
    secret = added.json()["secret"]
    assert len(secret) == 64
    listed = client.get(f"/v1/apps/{shop}/hooks")
    assert [h["url"] for h in listed.json()] == ["https://1.1.1.1/x"]
    assert secret not in listed.text
    with world.db.session() as session:
        [row] = session.query(Hook).all()
        assert secret not in row.secret_sealed
        assert world.platform.vault.open(row.secret_sealed) == {"secret": secret}
    assert client.get(f"/v1/apps/{shop}/hooks/deliveries").json() == []
    assert client.delete(f"/v1/apps/{shop}/hooks/1").status_code == 204
    assert client.get(f"/v1/apps/{shop}/hooks").json() == []
    assert client.delete(f"/v1/apps/{shop}/hooks/1").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5050/v1/apps",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.8/",
        "http://[::1]/",
        "http://localhost/",
    ],
)
def test_a_hook_pointing_inside_the_platform_is_refused(
    client: TestClient, shop: str, url: str
) -> None:
    response = client.post(f"/v1/apps/{shop}/hooks", json={"url": url})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "hook_not_allowed"
    assert "inside the platform" in error["message"]
    assert client.get(f"/v1/apps/{shop}/hooks").json() == []


def test_a_hook_with_a_bad_url_or_event_is_refused_saying_why(
    client: TestClient, shop: str
) -> None:
    bad = client.post(f"/v1/apps/{shop}/hooks", json={"url": "gopher://example.com/"})
    assert bad.status_code == 422 and "http:// or https://" in bad.json()["error"]["message"]
    event = client.post(
        f"/v1/apps/{shop}/hooks", json={"url": "https://1.1.1.1/", "events": ["push"]}
    )
    assert event.status_code == 422 and "unknown hook event" in event.json()["error"]["message"]
