"""The release phase: a Procfile's `release:` runs once, in a one-off of the new release with
its config, before the rollout; its failure leaves the old release serving."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.unit.fakes import World, deploy

from xae.auth.policy import Principal
from xae.control.apps import get_app
from xae.control.formation import FormationChange, change, formations
from xae.control.releases import release_build, rollback, set_config
from xae.errors import DeployFailed, InvalidInput
from xae.runtime.base import OneOffResult, OneOffSpec
from xae.store.models import Build, Event, Release

PROCFILE = {"web": "python app.py", "release": "python migrate.py"}


def finished_build(world: World, name: str, image: str, processes: dict[str, str]) -> int:
    with world.db.session() as session:
        build = Build(
            app_id=get_app(session, name).id,
            status="succeeded",
            image=image,
            processes=processes,
            run_as="10001:10001",
        )
        session.add(build)
        session.flush()
        return build.id


def releases(world: World, name: str) -> dict[int, tuple[str, str | None]]:
    with world.db.session() as session:
        app = get_app(session, name)
        rows = session.scalars(select(Release).where(Release.app_id == app.id))
        return {r.version: (str(r.status), r.failure_reason) for r in rows}


def test_the_release_command_runs_once_in_the_new_release_with_its_config_before_the_rollout(
    world: World, shop: str, alice: Principal
) -> None:
    set_config(world.platform, alice, shop, {"DATABASE_URL": "sqlite:////data/app.db"})
    build_id = finished_build(world, shop, "img:2", PROCFILE)
    world.runtime.oneoff_script = lambda spec: (
        ["creating table notes", "done"],
        OneOffResult(exit_code=0),
    )
    steps: list[str] = []
    lines: list[str] = []
    world.events.clear()

    version = release_build(
        world.platform, "alice", shop, build_id, "Deploy", steps.append, lines.append
    )

    assert version == 2
    [spec] = world.runtime.oneoffs
    assert (spec.kind, spec.name, spec.release, spec.image, spec.command) == (
        "release",
        "release-v2",
        2,
        "img:2",
        "python migrate.py",
    )
    assert spec.env == {"DATABASE_URL": "sqlite:////data/app.db"}
    assert spec.run_as == "10001:10001"
    assert spec.timeout == world.platform.settings.release_timeout
    assert lines == ["creating table notes", "done"]
    assert any("release command" in s and "python migrate.py" in s for s in steps)
    # The one-off ended before the first instance of v2 started.
    kinds = world.events.kinds()
    assert kinds.index("oneoff_done") < kinds.index("start")
    assert releases(world, shop)[2] == ("succeeded", None)


def test_release_is_never_a_process_type_with_a_formation_or_instances(
    world: World, shop: str, alice: Principal
) -> None:
    build_id = finished_build(world, shop, "img:1", PROCFILE)

    release_build(world.platform, "alice", shop, build_id, "Deploy")

    with pytest.raises(InvalidInput, match="runs once per deploy"):
        change(world.platform, alice, shop, [FormationChange("release", quantity=1)])

    with world.db.session() as session:
        app = get_app(session, shop)
        assert [f.process_type for f in formations(session, app)] == ["web"]
        plan = world.platform.plan(session, app)
        assert plan is not None
        assert [p.process for p in plan.processes] == ["web"]
    assert {i.process for i in world.runtime.list_instances(shop)} == {"web"}


def test_a_failing_release_command_fails_the_deploy_and_the_old_release_keeps_serving(
    world: World, shop: str
) -> None:
    deploy(world.platform, shop, "img:1", {"web": "python app.py"})
    [old] = world.runtime.of(shop, "web")
    build_id = finished_build(world, shop, "img:2", PROCFILE)
    world.runtime.oneoff_script = lambda spec: (
        ["sqlite3.OperationalError: no such column"],
        OneOffResult(exit_code=3),
    )
    lines: list[str] = []

    with pytest.raises(DeployFailed) as failed:
        release_build(world.platform, "alice", shop, build_id, "Deploy", output=lines.append)

    assert "the release command `python migrate.py` failed with exit code 3" in str(failed.value)
    assert lines == ["sqlite3.OperationalError: no such column"]
    status, reason = releases(world, shop)[2]
    assert status == "failed"
    assert reason is not None and "exit code 3" in reason
    assert world.runtime.of(shop, "web") == [old]
    with world.db.session() as session:
        app = get_app(session, shop)
        assert app.current_release is not None and app.current_release.version == 1
        event = session.scalars(select(Event).where(Event.action == "release.phase")).one()
        assert event.result == "failed"


def test_a_release_command_past_its_timeout_fails_the_deploy(world: World, shop: str) -> None:
    build_id = finished_build(world, shop, "img:1", PROCFILE)
    world.runtime.oneoff_script = lambda spec: ([], OneOffResult(exit_code=None, timed_out=True))

    with pytest.raises(DeployFailed, match="did not finish within 900 s"):
        release_build(world.platform, "alice", shop, build_id, "Deploy")

    assert releases(world, shop)[1][0] == "failed"
    assert world.runtime.list_instances(shop) == []


def test_config_changes_and_rollbacks_do_not_run_the_release_command(
    world: World, shop: str, alice: Principal
) -> None:
    release_build(
        world.platform, "alice", shop, finished_build(world, shop, "img:1", PROCFILE), "v1"
    )
    release_build(
        world.platform, "alice", shop, finished_build(world, shop, "img:2", PROCFILE), "v2"
    )
    ran: list[OneOffSpec] = list(world.runtime.oneoffs)

    set_config(world.platform, alice, shop, {"A": "1"})
    rollback(world.platform, alice, shop, 1)

    assert [s.name for s in ran] == ["release-v1", "release-v2"]
    assert world.runtime.oneoffs == ran
