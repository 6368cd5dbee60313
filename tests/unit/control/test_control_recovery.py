"""Start-up recovery: a rollout or build the previous control plane did not finish is failed,
with the reason in the release and the audit trail, and its instances are removed."""

from __future__ import annotations

from sqlalchemy import select
from tests.unit.fakes import World, add_build, deploy

from xae.control.apps import get_app
from xae.control.reconciler import Reconciler
from xae.control.recovery import BUILD_REASON, RELEASE_REASON, fail_interrupted
from xae.control.releases import new_release
from xae.store.models import Build, Event, Release


def start_a_rollout_and_die(world: World, app: str, image: str) -> int:
    """What a control plane killed during the health gate leaves: a pending release whose web
    instance runs. Returns the release's version."""
    p = world.platform
    build_id = add_build(p, app, image)
    with p.db.session() as session:
        row = get_app(session, app)
        release = new_release(
            session, row, build_id=build_id, config_of=None, description="Deploy", actor="alice"
        )
        plan = p.plan(session, row, release)
        version = release.version
    assert plan is not None
    [web] = [proc for proc in plan.processes if proc.process == "web"]
    world.runtime.start(web.spec)
    return version


def test_a_pending_release_is_failed_with_the_reason_in_it_and_in_the_audit_trail(
    world: World, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    version = start_a_rollout_and_die(world, shop, "img:2")

    interrupted = fail_interrupted(world.db)

    assert interrupted.releases == [(shop, version)]
    with world.db.session() as session:
        release = session.scalars(select(Release).where(Release.version == version)).one()
        assert (release.status, release.failure_reason) == ("failed", RELEASE_REASON)
        [event] = session.scalars(select(Event).where(Event.result == "failed")).all()
        assert (event.action, event.target, event.actor) == ("release.rollout", shop, "xae")
        assert event.details == {"version": version, "error": RELEASE_REASON}
        assert get_app(session, shop).current_release.version == 1  # type: ignore[union-attr]


def test_the_next_pass_removes_the_interrupted_releases_instances(world: World, shop: str) -> None:
    deploy(world.platform, shop, "img:1")
    [old] = world.runtime.of(shop)
    start_a_rollout_and_die(world, shop, "img:2")
    fail_interrupted(world.db)

    Reconciler(world.platform).run_once(timeout=5)

    assert world.runtime.of(shop) == [old]
    assert world.router.served()[shop] == [f"{old.address}:{old.port}"]


def test_an_interrupted_first_deploy_leaves_no_instance(world: World, shop: str) -> None:
    start_a_rollout_and_die(world, shop, "img:1")
    fail_interrupted(world.db)

    Reconciler(world.platform).run_once(timeout=5)

    assert world.runtime.of(shop) == []
    assert world.router.served().get(shop, []) == []


def test_a_running_build_is_failed_and_finished_releases_are_left_alone(
    world: World, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    with world.db.session() as session:
        build = Build(app_id=get_app(session, shop).id, status="running", log="step 1")
        session.add(build)
        session.flush()
        build_id = build.id

    interrupted = fail_interrupted(world.db)

    assert interrupted == type(interrupted)(releases=[], builds=[(shop, build_id)])
    with world.db.session() as session:
        failed = session.get(Build, build_id)
        assert failed is not None and failed.status == "failed" and failed.finished_at is not None
        assert failed.log.endswith(BUILD_REASON)
        assert [r.status for r in session.scalars(select(Release))] == ["succeeded"]
    assert fail_interrupted(world.db).builds == []  # idempotent


def test_a_build_still_queued_when_the_control_plane_stopped_is_failed_too(
    world: World, shop: str
) -> None:
    """The queue lives in the process: a build waiting in it when the process died will never
    start, and its deploy's stream is gone."""
    with world.db.session() as session:
        build = Build(app_id=get_app(session, shop).id, status="queued")
        session.add(build)
        session.flush()
        build_id = build.id

    assert fail_interrupted(world.db).builds == [(shop, build_id)]
    with world.db.session() as session:
        failed = session.get(Build, build_id)
        assert failed is not None and failed.status == "failed"
