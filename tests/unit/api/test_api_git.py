"""Git hosting through the API: who may fetch and push (a real `git http-backend` answers),
and the deploy branch. The pushes themselves, with the real git client, are in
`tests/e2e/test_git_push.py`."""

from __future__ import annotations

import base64
import subprocess
from typing import TYPE_CHECKING

import pytest
from tests.unit.fakes import World

from xae.api.deps import basic_password

if TYPE_CHECKING:
    from starlette.testclient import TestClient


def basic(token: str, user: str = "anyone") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


ADVERTISE = "/git/shop.git/info/refs?service="


@pytest.fixture
def git(anonymous: TestClient, shop: str) -> TestClient:
    """A client as git is one: no bearer token (`shop` logged the shared client in)."""
    anonymous.headers.pop("Authorization", None)
    return anonymous


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("Basic " + base64.b64encode(b"x:tok").decode(), "tok"),
        ("Basic " + base64.b64encode(b":tok:with:colons").decode(), "tok:with:colons"),
        ("Basic " + base64.b64encode(b"x:").decode(), None),
        ("Basic not-base64!", None),
        ("Bearer tok", "tok"),
        ("Digest abc", None),
    ],
)
def test_the_token_is_the_basic_password(header: str | None, token: str | None) -> None:
    assert basic_password(header) == token


def test_no_token_or_a_wrong_one_gets_a_basic_challenge_so_git_asks_its_helper(
    git: TestClient,
) -> None:
    for headers in ({}, basic("not-a-token")):
        response = git.get(ADVERTISE + "git-upload-pack", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
        assert "not-a-token" not in response.text


def test_the_owner_fetches_and_pushes_through_the_real_backend(
    world: World, git: TestClient
) -> None:
    token = world.token("alice")
    for service in ("git-upload-pack", "git-receive-pack"):
        response = git.get(ADVERTISE + service, headers=basic(token))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == f"application/x-{service}-advertisement"
        assert f"# service={service}" in response.text
    repo = world.platform.settings.repos_dir / "shop.git"
    head = subprocess.run(
        ["git", "-C", str(repo), "symbolic-ref", "HEAD"], capture_output=True, text=True
    )
    assert head.stdout.strip() == "refs/heads/main"
    assert (repo / "hooks" / "pre-receive").read_text().count("xae.codecenter.hook") == 1


def test_another_teams_app_answers_like_a_missing_one(world: World, git: TestClient) -> None:
    token = world.token("bob")
    for service in ("git-upload-pack", "git-receive-pack"):
        theirs = git.get(ADVERTISE + service, headers=basic(token))
        missing = git.get(
            f"/git/nothing-here.git/info/refs?service={service}", headers=basic(token)
        )
        assert theirs.status_code == missing.status_code == 404
    pushed = git.post("/git/shop.git/git-receive-pack", headers=basic(token), content=b"")
    assert pushed.status_code == 404
    assert not (world.platform.settings.repos_dir / "shop.git").exists()


def test_a_read_token_fetches_but_cannot_push(client: TestClient, shop: str) -> None:
    created = client.post("/v1/tokens", json={"name": "ci", "scope": "read"})
    token = created.json()["token"]
    anonymous = client
    anonymous.headers.pop("Authorization")
    assert anonymous.get(ADVERTISE + "git-upload-pack", headers=basic(token)).status_code == 200
    assert anonymous.get(ADVERTISE + "git-receive-pack", headers=basic(token)).status_code == 403
    pushed = anonymous.post("/git/shop.git/git-receive-pack", headers=basic(token), content=b"")
    assert pushed.status_code == 403


def test_only_the_smart_protocol_is_served(world: World, git: TestClient) -> None:
    response = git.get("/git/shop.git/info/refs", headers=basic(world.token()))
    assert response.status_code == 403
    assert "smart HTTP" in response.json()["error"]["message"]


def test_the_deploy_branch_is_main_until_changed(client: TestClient, shop: str) -> None:
    assert client.get("/v1/apps/shop/git").json() == {"path": "/git/shop.git", "branch": "main"}
    changed = client.put("/v1/apps/shop/git/branch", json={"branch": "release/1"})
    assert changed.status_code == 200, changed.text
    assert client.get("/v1/apps/shop/git").json()["branch"] == "release/1"


@pytest.mark.parametrize("branch", ["a;id", "$(id)", "-x", "a b", ""])
def test_a_branch_name_with_shell_characters_is_refused(
    client: TestClient, shop: str, branch: str
) -> None:
    response = client.put("/v1/apps/shop/git/branch", json={"branch": branch})
    assert response.status_code == 422
    assert client.get("/v1/apps/shop/git").json()["branch"] == "main"


def test_destroying_the_app_removes_its_repository(world: World, git: TestClient) -> None:
    git.get(ADVERTISE + "git-upload-pack", headers=basic(world.token()))
    repo = world.platform.settings.repos_dir / "shop.git"
    assert repo.is_dir()
    bearer = {"Authorization": f"Bearer {world.token()}"}
    destroyed = git.delete("/v1/apps/shop", params={"confirm": "shop"}, headers=bearer)
    assert destroyed.status_code == 204
    assert not repo.exists()
