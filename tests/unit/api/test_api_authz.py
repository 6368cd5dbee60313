"""Two teams, every operation: the API's authorization, attacked and tabulated.

Every operation is read from the app's own `/openapi.json`, so a route added later is attacked
here without anyone adding it to this file; its `x-xae-action` (published by
`xae.api.app.declare_actions`) says what the policy checks. Team A is alice's (an app that is
deployed, has config and releases, a second team `annex`, a viewer, a developer and tokens of
every scope); team B is bob's.

- Every operation, called by bob with team A's names and ids, answers 404 or 403 and leaves A as
  it was (its app, config, releases, formation, members, tokens and route, read before and
  after as alice sees them); an operation that names nothing of A does not show any of it.
- Every operation, called by team A's own members at each role and by tokens of each scope (and
  one limited to the app), is allowed exactly when the tables of `xae.domain.access` say so.
  The expected outcome is computed from those tables, not written down per route.
- Every operation declares an action, and every action is checked by some route.

The store and the fakes are put back as they were before every call (a copy of the database
file and of the fakes' state), so an allowed destroy does not change what the next call sees.
"""

from __future__ import annotations

import copy
import itertools
import shutil
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import select
from starlette.exceptions import StarletteDeprecationWarning
from tests.authz_operations import (
    BODIES,
    NOT_2XX_WHEN_ALLOWED,
    PUBLIC_OPERATIONS,
    QUERY_VALUES,
    Operation,
    Request,
    Targets,
    certificate_for,
    names_team_a,
    operations_of,
    request_for,
    send,
)
from tests.unit.fakes import World, deploy, make_world

from xae.api.app import UnguardedRoute, check_declared, create_app, include
from xae.auth.tokens import issue_token
from xae.codecenter.builds import build_service
from xae.codecenter.notify import Notifier
from xae.config import Settings
from xae.domain.access import (
    APP_TOKEN_ACTIONS,
    ROLE_ACTIONS,
    SCOPE_ACTIONS,
    Action,
    Role,
    Scope,
)
from xae.store.models import User

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

APP = "orchard"
SECRET = "s3cret-value-of-team-a"
A_TOKEN = "ci-orchard"
ANNEX = "annex"
"""Team A's second team (same members, same roles): where an allowed transfer moves the app."""

NOT_ROUTED: dict[Action, str] = {
    Action.APP_CONFIG_READ: "checked inside GET /v1/apps/{name}/config, which shows values to "
    "callers it allows and only names to the others (test_config_values_follow_the_tables)",
}
"""Actions no route declares, each with the reason."""


# -- the two teams ------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Someone of team A, and what the tables should let them do."""

    label: str
    token: str
    user: str
    role: Role | None
    scope: Scope = Scope.ADMIN
    app_limited: bool = False
    admin: bool = False


@dataclass
class Scenario:
    world: World
    client: TestClient
    """Unauthenticated: every call passes its own token."""
    tokens: dict[str, str]
    """Bearer tokens by label: alice, bob, root."""
    callers: list[Caller]
    spare: dict[str, int]
    """A token id of each user's own that the caller may revoke."""
    a_token_id: int
    golden: Path
    fakes: dict[str, Any] = field(default_factory=dict)

    def as_(self, label: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[label]}"}

    def call(self, token: str, request: Request) -> Any:
        self.client.headers["Authorization"] = f"Bearer {token}"
        try:
            return send(self.client, request)
        finally:
            del self.client.headers["Authorization"]

    def save(self) -> None:
        """Remember the store and the fakes as they are now (`restore` puts them back)."""
        self.world.db.engine.dispose()
        shutil.copyfile(self._db_path, self.golden)
        runtime, router = self.world.runtime, self.world.router
        self.fakes = {
            "instances": copy.deepcopy(runtime.instances),
            "specs": copy.deepcopy(runtime.specs),
            "networks": set(runtime.networks),
            "next_id": max((int(i[2:]) for i in runtime.instances), default=0) + 1,
            "applied": copy.deepcopy(router.applied),
            "health": copy.deepcopy(vars(self.world.platform.health)),
        }

    def restore(self) -> None:
        self.world.db.engine.dispose()
        for suffix in ("-wal", "-shm"):
            Path(f"{self._db_path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.golden, self._db_path)
        runtime, router = self.world.runtime, self.world.router
        runtime.instances = copy.deepcopy(self.fakes["instances"])
        runtime.specs = copy.deepcopy(self.fakes["specs"])
        runtime.networks = set(self.fakes["networks"])
        runtime._ids = itertools.count(self.fakes["next_id"])  # noqa: SLF001
        router.applied = copy.deepcopy(self.fakes["applied"])
        # Instance ids restart where the saved state left them: forget what was probed since
        # (in place: the rollout strategy holds the same tracker).
        health = vars(self.world.platform.health)
        health.clear()
        health.update(copy.deepcopy(self.fakes["health"]))

    @property
    def _db_path(self) -> Path:
        database = self.world.db.engine.url.database
        assert database is not None
        return Path(database)


def ok(response: Any, *codes: int) -> Any:
    assert response.status_code in (codes or (200, 201, 204)), response.text
    return response


def wait_for_run(client: TestClient, headers: dict[str, str], run_id: int) -> None:
    """Until the cron run (a thread, on the fake runtime: instant) has recorded its end."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        run = ok(client.get(f"/v1/apps/{APP}/cron-runs/{run_id}", headers=headers)).json()
        if run["status"] != "running":
            return
        time.sleep(0.02)
    raise AssertionError(f"cron run {run_id} did not end")


def build_scenario(world: World, tmp_path: Path) -> Scenario:
    client = TestClient(create_app(world.platform), raise_server_exceptions=False)
    tokens = {name: world.token(name) for name in ("alice", "bob", "root")}

    def as_(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[name]}"}

    ok(client.post("/v1/apps", json={"name": APP}, headers=as_("alice")))
    deploy(world.platform, APP, "img:1")
    ok(client.patch(f"/v1/apps/{APP}/config", json={"GREETING": SECRET}, headers=as_("alice")))
    ok(client.post("/v1/teams", json={"name": ANNEX}, headers=as_("alice")))
    domain = {"hostname": Targets.domain}
    ok(client.post(f"/v1/apps/{APP}/domains", json=domain, headers=as_("alice")))
    job = {"name": Targets.cron_job, "schedule": "@daily", "command": "python backup.py"}
    ok(client.post(f"/v1/apps/{APP}/cron", json=job, headers=as_("alice")))
    run = ok(client.post(f"/v1/apps/{APP}/cron/{Targets.cron_job}/runs", headers=as_("alice")), 202)
    assert run.json()["id"] == Targets.cron_run
    wait_for_run(client, as_("alice"), Targets.cron_run)
    for user, role in (("carol", "viewer"), ("dave", "developer"), ("erin", "viewer")):
        ok(client.post("/v1/users", json={"name": user}, headers=as_("root")))
        for team in ("alice", ANNEX):
            ok(
                client.put(
                    f"/v1/teams/{team}/members/{user}", json={"role": role}, headers=as_("alice")
                )
            )
    ok(client.post("/v1/apps", json={"name": "bob-app"}, headers=as_("bob")))
    cert = certificate_for(f"{APP}.localhost")
    assert (
        ok(client.post(f"/v1/apps/{APP}/certs", json=cert, headers=as_("alice"))).json()[
            "certificate"
        ]["id"]
        == 1
    )
    a_token = ok(
        client.post("/v1/tokens", json={"name": A_TOKEN, "scope": "deploy"}, headers=as_("alice"))
    ).json()
    # Deliveries stay queued: a worker writing the store would race `Scenario.restore`.
    p = world.platform
    build_service(p).notifier = Notifier(p.db, p.vault, p.settings, background=False)
    hook = {"url": "https://1.1.1.1/hook", "events": ["deploy"]}
    assert (
        ok(client.post(f"/v1/apps/{APP}/hooks", json=hook, headers=as_("alice"))).json()["hook"][
            "id"
        ]
        == Targets.hook_id
    )

    def scoped(scope: str, app: str | None = None) -> str:
        body = {"name": f"{scope}-{app or 'all'}", "scope": scope, "app": app}
        token: str = ok(client.post("/v1/tokens", json=body, headers=as_("alice"))).json()["token"]
        return token

    callers = [
        Caller("owner (alice)", tokens["alice"], "alice", Role.OWNER),
        Caller("developer (dave)", world.token("dave"), "dave", Role.DEVELOPER),
        Caller("viewer (carol)", world.token("carol"), "carol", Role.VIEWER),
        Caller("owner's read token", scoped("read"), "alice", Role.OWNER, Scope.READ),
        Caller("owner's deploy token", scoped("deploy"), "alice", Role.OWNER, Scope.DEPLOY),
        Caller("owner's admin token", scoped("admin"), "alice", Role.OWNER, Scope.ADMIN),
        Caller(
            "owner's token limited to the app",
            scoped("deploy", APP),
            "alice",
            Role.OWNER,
            Scope.DEPLOY,
            app_limited=True,
        ),
        Caller("platform admin (root)", tokens["root"], "root", None, admin=True),
    ]
    spare: dict[str, int] = {}
    with world.db.session() as session:
        for row in session.scalars(select(User)):
            spare[row.name] = issue_token(session, row, timedelta(days=1), name="spare").id
    scenario = Scenario(
        world=world,
        client=client,
        tokens=tokens,
        callers=callers,
        spare=spare,
        a_token_id=a_token["id"],
        golden=tmp_path / "golden.db",
    )
    scenario.save()
    return scenario


def quick_world(template: Path, directory: Path) -> World:
    """`tests.unit.fakes.make_world`, without a per-token rate limit where the settings have
    one: this suite sends a few hundred requests a second with one token, which is the limit's
    business to refuse and not what is tested here (only `create_app` reads it)."""
    world = make_world(template, directory)
    if "api_rate" in Settings.model_fields:
        world.platform.settings = world.platform.settings.model_copy(update={"api_rate": 0.0})
    return world


@pytest.fixture(scope="module")
def built(db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """Made once for the module (creating users hashes passwords): each test starts from it."""
    directory = tmp_path_factory.mktemp("authz")
    world = quick_world(db_template, directory)
    s = build_scenario(world, directory)
    with s.client:
        yield s
    world.db.engine.dispose()


@pytest.fixture
def scenario(built: Scenario) -> Scenario:
    built.restore()
    return built


@pytest.fixture
def operations(scenario: Scenario) -> list[Operation]:
    document = ok(scenario.client.get("/openapi.json")).json()
    return operations_of(document)


# -- (a) team B against team A ------------------------------------------------------------


def snapshot(s: Scenario) -> dict[str, Any]:
    """Team A as alice sees it, and what the router serves for its app."""

    def get(path: str) -> Any:
        return ok(s.client.get(path, headers=s.as_("alice"))).json()

    tokens = [
        {k: v for k, v in t.items() if k not in ("last_used_at", "current")}
        for t in get("/v1/tokens")
    ]
    return {
        "app": get(f"/v1/apps/{APP}"),
        "config": get(f"/v1/apps/{APP}/config"),
        "releases": get(f"/v1/apps/{APP}/releases"),
        "formation": get(f"/v1/apps/{APP}/formation"),
        "team": get("/v1/teams/alice"),
        "annex": get(f"/v1/teams/{ANNEX}"),
        "tokens": tokens,
        "certs": get(f"/v1/apps/{APP}/certs"),
        "hooks": get(f"/v1/apps/{APP}/hooks"),
        "builds": get(f"/v1/apps/{APP}/builds"),
        "route": s.world.router.served().get(APP),
    }


def attacker_targets(s: Scenario) -> Targets:
    return Targets(
        app=APP,
        team="alice",
        user="alice",
        token_id=s.a_token_id,
        version=2,
        create_in="alice",
        transfer_to="bob",  # stealing the app into the attacker's own team
    )


def test_team_b_can_neither_see_nor_change_anything_of_team_a(
    scenario: Scenario, operations: list[Operation]
) -> None:
    s, targets = scenario, attacker_targets(scenario)
    leaks = (APP, SECRET, A_TOKEN, ANNEX, "carol", "dave")
    checked = []
    before = snapshot(s)
    for op in operations:
        if op.public:
            continue
        response = s.call(s.tokens["bob"], request_for(op, targets))
        if names_team_a(op):
            assert response.status_code in (403, 404), (op.key, response.status_code, response.text)
        else:  # lists and the caller's own things: only team B's
            assert response.status_code < 500, (op.key, response.text)
            shown = [leak for leak in leaks if leak in response.text]
            assert not shown, (op.key, shown, response.text[:500])
        after = snapshot(s)
        assert after == before, f"{op.key} by team B changed team A"
        checked.append(op.key)
    assert len(checked) == len([op for op in operations if not op.public])


def test_team_b_cannot_add_itself_to_team_a_nor_take_its_owner_out(scenario: Scenario) -> None:
    s = scenario
    for method, path, body in (
        ("PUT", "/v1/teams/alice/members/bob", {"role": "owner"}),
        ("PUT", f"/v1/teams/{ANNEX}/members/bob", {"role": "viewer"}),
        ("DELETE", "/v1/teams/alice/members/alice", None),
    ):
        response = s.client.request(method, path, json=body, headers=s.as_("bob"))
        assert response.status_code == 404, response.text
        assert "alice" in response.json()["error"]["message"] or ANNEX in response.text
    members = ok(s.client.get("/v1/teams/alice", headers=s.as_("alice"))).json()["members"]
    assert "bob" not in {m["user"] for m in members}


def test_a_missing_app_and_another_teams_app_answer_alike(scenario: Scenario) -> None:
    s = scenario
    theirs = s.client.get(f"/v1/apps/{APP}", headers=s.as_("bob"))
    missing = s.client.get("/v1/apps/no-such-app", headers=s.as_("bob"))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["message"].replace(APP, "X") == missing.json()["error"][
        "message"
    ].replace("no-such-app", "X")


# -- (b) team A's own callers, against the tables -----------------------------------------


def table_allows(caller: Caller, action: str, writes: bool) -> bool:
    """What `xae.domain.access` says: scope, app limit, then role (admins own every team)."""
    wanted = Action(action)
    if writes and caller.scope == Scope.READ:
        return False
    if wanted not in SCOPE_ACTIONS[caller.scope]:
        return False
    if caller.app_limited and wanted not in APP_TOKEN_ACTIONS:
        return False
    if wanted in (Action.USERS, Action.PLATFORM):
        return caller.admin
    if wanted in (Action.SELF, Action.TEAM_CREATE, Action.TOKENS):
        return True
    role = Role.OWNER if caller.admin else caller.role
    return role is not None and wanted in ROLE_ACTIONS[role]


def own_targets(s: Scenario, caller: Caller) -> Targets:
    return Targets(
        app=APP,
        team="alice",
        user="erin",
        token_id=s.spare[caller.user],
        version=1,
        create_in="alice",
        transfer_to=ANNEX,
    )


def test_each_role_and_scope_may_do_exactly_what_the_tables_say(
    scenario: Scenario, operations: list[Operation]
) -> None:
    s = scenario
    wrong = []
    seen_allowed: set[str] = set()
    seen_denied: set[str] = set()
    for op in operations:
        if op.public:
            continue
        for caller in s.callers:
            s.restore()
            expected = all(table_allows(caller, a, op.writes) for a in op.actions)
            response = s.call(caller.token, request_for(op, own_targets(s, caller)))
            code = response.status_code
            if expected:
                allowed_code = NOT_2XX_WHEN_ALLOWED.get(op.key)
                good = 200 <= code < 300 or code == allowed_code
            else:
                good = code in (403, 404)
            if not good:
                wrong.append(f"{op.key} as {caller.label}: {code} {response.text[:200]}")
            (seen_allowed if expected else seen_denied).add(op.key)
    s.restore()
    assert not wrong, "\n".join(wrong)
    # The matrix is not trivial: most operations are allowed to some and refused to others.
    assert len(seen_allowed & seen_denied) >= len(operations) // 2


def test_config_values_follow_the_tables(scenario: Scenario) -> None:
    """Every caller who may read the app sees the config's keys; values only where the
    tables allow `app.config.read`."""
    s = scenario
    for caller in s.callers:
        config = ok(s.call(caller.token, Request("GET", f"/v1/apps/{APP}/config", {}, None)))
        shows_values = table_allows(caller, Action.APP_CONFIG_READ, writes=False)
        assert config.json() == {"GREETING": SECRET if shows_values else None}, caller.label


def test_a_token_limited_to_one_app_sees_no_other(scenario: Scenario) -> None:
    s = scenario
    limited = next(c for c in s.callers if c.app_limited)
    for path in ("/v1/apps/bob-app", "/v1/teams/alice", "/v1/teams/bob"):
        assert s.call(limited.token, Request("GET", path, {}, None)).status_code == 404, path
    listed = ok(s.call(limited.token, Request("GET", "/v1/apps", {}, None))).json()
    assert [a["name"] for a in listed] == [APP]


# -- (c) the document and the tables ------------------------------------------------------


def test_every_operation_declares_known_actions(operations: list[Operation]) -> None:
    known = {str(a) for a in Action} | {"public"}
    for op in operations:
        assert op.actions, f"{op.key} declares no x-xae-action"
        assert set(op.actions) <= known, (op.key, op.actions)
        assert ("public" in op.actions) == (op.key in PUBLIC_OPERATIONS), op.key
    assert {op.key for op in operations if op.public} == PUBLIC_OPERATIONS


def test_every_action_is_checked_by_some_route(operations: list[Operation]) -> None:
    routed = {Action(a) for op in operations for a in op.actions if a != "public"}
    assert set(Action) - routed == set(NOT_ROUTED), "an action no route checks: route it or say why"
    assert not routed & set(NOT_ROUTED)


def test_every_body_and_query_entry_names_a_real_operation(operations: list[Operation]) -> None:
    keys = {op.key for op in operations}
    assert set(BODIES) <= keys, set(BODIES) - keys
    assert set(QUERY_VALUES) <= keys, set(QUERY_VALUES) - keys
    assert set(NOT_2XX_WHEN_ALLOWED) <= keys


def test_a_route_without_a_guard_stops_the_api_from_starting() -> None:
    router = APIRouter()

    @router.get("/v1/unguarded")
    def unguarded() -> dict[str, str]:
        return {}

    with pytest.raises(UnguardedRoute, match="GET.*/v1/unguarded declares no action"):
        include(FastAPI(), router)


def test_a_router_included_around_the_check_stops_the_api_from_starting() -> None:
    router = APIRouter()

    @router.get("/v1/sneaky")
    def sneaky() -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router)
    with pytest.raises(UnguardedRoute, match="GET /v1/sneaky declares no action"):
        check_declared(app)
