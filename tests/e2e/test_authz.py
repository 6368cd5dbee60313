"""Another team's member tries every operation of the live `/openapi.json` on a real app.

The tests' plane's bootstrap admin owns team `default` and a deployed app in it (team A). A
second user, made through the API and logged in with a password like anyone else, owns a team
of their own (team B) and sends every operation with team A's names and ids (`tests/
authz_operations.py` fills them, as the unit suite does on fakes). Each must answer 404 or 403,
and afterwards the app still serves the same page through the router from the same release,
with the same config, formation and team members. Operations that name nothing of team A (lists,
the caller's own account) must not show any of it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.authz_operations import Targets, names_team_a, operations_of, request_for, send
from tests.e2e.harness import Plane, wait_for

pytestmark = pytest.mark.e2e

SECRET = "team-a-secret-" + secrets.token_hex(4)


@dataclass
class TeamA:
    app: str
    page: str
    admin: httpx.Client
    user: str
    token_id: int
    version: int


@dataclass
class Intruder:
    name: str
    team: str
    client: httpx.Client


def ok(response: httpx.Response) -> Any:
    assert response.is_success, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


@pytest.fixture
def team_a(plane: Plane, app_source: Callable[[str], Path]) -> Iterator[TeamA]:
    app = plane.new_app("authz")
    plane.deploy(app, app_source("static"))
    page = wait_for(lambda: plane.serving(app, "") and plane.get(app).text, 60, f"{app} serving")
    with httpx.Client(
        base_url=plane.api, headers={"Authorization": f"Bearer {plane.token}"}, timeout=60
    ) as admin:
        ok(admin.patch(f"/v1/apps/{app}/config", json={"GREETING": SECRET}))
        tokens = ok(admin.get("/v1/tokens"))
        yield TeamA(
            app=app,
            page=page,
            admin=admin,
            user=ok(admin.get("/v1/auth/whoami"))["username"],
            token_id=tokens[0]["id"],
            version=ok(admin.get(f"/v1/apps/{app}"))["release"],
        )


@pytest.fixture
def intruder(plane: Plane, team_a: TeamA) -> Iterator[Intruder]:
    name, password = f"mallory-{secrets.token_hex(3)}", secrets.token_urlsafe(16)
    ok(team_a.admin.post("/v1/users", json={"name": name, "password": password}))
    login = httpx.post(
        f"{plane.api}/v1/auth/tokens", json={"username": name, "password": password}, timeout=60
    )
    token = ok(login)["token"]
    team = f"team-{name}"
    with httpx.Client(
        base_url=plane.api, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        ok(client.post("/v1/teams", json={"name": team}))
        try:
            yield Intruder(name=name, team=team, client=client)
        finally:
            for own in ok(client.get("/v1/apps")):
                client.delete(f"/v1/apps/{own['name']}", params={"confirm": own["name"]})
            for other in ok(client.get("/v1/teams")):
                client.delete(f"/v1/teams/{other['name']}")
            ok(team_a.admin.delete(f"/v1/users/{name}"))


def state_of(plane: Plane, a: TeamA) -> dict[str, Any]:
    """Team A's app as its owner and its users see it."""
    info = ok(a.admin.get(f"/v1/apps/{a.app}"))
    return {
        "release": info["release"],
        "team": info["team"],
        "health": info["health"],
        "config": ok(a.admin.get(f"/v1/apps/{a.app}/config")),
        "releases": [r["version"] for r in ok(a.admin.get(f"/v1/apps/{a.app}/releases"))],
        "formation": ok(a.admin.get(f"/v1/apps/{a.app}/formation")),
        "members": ok(a.admin.get("/v1/teams/default"))["members"],
        "page": plane.get(a.app).text,
    }


@pytest.mark.backends("docker")
def test_another_teams_member_can_do_nothing_to_a_deployed_app(
    plane: Plane, team_a: TeamA, intruder: Intruder
) -> None:
    document = ok(httpx.get(f"{plane.api}/openapi.json", timeout=30))
    operations = [op for op in operations_of(document) if not op.public]
    assert len(operations) >= 30  # the whole API, not an empty document
    targets = Targets(
        app=team_a.app,
        team="default",
        user=team_a.user,
        token_id=team_a.token_id,
        version=team_a.version,
        create_in="default",
        transfer_to=intruder.team,  # stealing the app into the intruder's own team
    )
    before = state_of(plane, team_a)
    assert before["page"] == team_a.page
    answers = {}
    for op in operations:
        response = send(intruder.client, request_for(op, targets))
        answers[op.key] = response.status_code
        if names_team_a(op):
            assert response.status_code in (403, 404), (op.key, response.text)
        else:
            assert response.status_code < 500, (op.key, response.text)
            for leak in (team_a.app, SECRET):
                assert leak not in response.text, (op.key, leak)
    assert state_of(plane, team_a) == before
    assert 404 in answers.values() and 403 in answers.values()  # e.g. apps 404, users 403
