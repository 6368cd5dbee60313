"""The build service around the pipeline, with the build faked: builds are recorded from the
moment they are queued, two deploys of one app never race, a cancel or a timeout ends a build
with its own status and the release untouched, the commit reaches the release, old logs go,
and outcomes are published to the app's hooks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.unit.deployfakes import BUILD_IMAGE, built_image, fake_build, static_tarball
from tests.unit.fakes import World

from xae.builder.build import BuiltImage
from xae.builder.cancel import Cancellation
from xae.codecenter.builds import build_service, cancel_build, prune_logs
from xae.codecenter.deploy import DeployPipeline
from xae.codecenter.notify import Notifier
from xae.config import Settings
from xae.control.apps import create_app, get_app
from xae.domain.builds import BuildSource
from xae.domain.deploy_events import DeployEvent, Step
from xae.errors import BuildCancelled, BuildTimedOut, Conflict
from xae.store.models import App, Build, Hook, Release

WAIT = 10.0


@pytest.fixture
def shop(world: World) -> App:
    create_app(world.platform, world.user("alice"), "shop")
    with world.db.session() as session:
        return get_app(session, "shop")


class GatedBuilds:
    """A fake build that waits for the test to open its gate (per build tag)."""

    def __init__(self) -> None:
        self.gates: dict[str, threading.Event] = {}
        self.started: list[str] = []
        self.lock = threading.Lock()

    def gate(self, tag: str) -> threading.Event:
        with self.lock:
            return self.gates.setdefault(tag, threading.Event())

    def __call__(
        self,
        client: object,
        src: Path,
        *,
        app: str,
        tag: str,
        settings: Settings,
        log: Any,
        cancel: Cancellation | None = None,
        **_: Any,
    ) -> BuiltImage:
        with self.lock:
            self.started.append(tag)
        log(f"building {tag}")
        gate = self.gate(tag)
        if cancel is not None:
            cancel.attach(gate.set)
        assert gate.wait(WAIT), f"the test never opened {tag}'s gate"
        if cancel is not None:
            cancel.detach()
            if cancel.cancelled:
                raise BuildCancelled(f"the build of {app} was cancelled and stopped")
        return built_image(app, tag)


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    done = threading.Event()
    for _ in range(int(WAIT / 0.01)):
        if predicate():
            return
        done.wait(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def statuses(world: World) -> dict[int, str]:
    with world.db.session() as session:
        return {b.id: str(b.status) for b in session.scalars(select(Build).order_by(Build.id))}


def releases(world: World) -> list[tuple[int, int | None, str]]:
    with world.db.session() as session:
        return [
            (r.version, r.build_id, str(r.status))
            for r in session.scalars(select(Release).order_by(Release.version))
        ]


class Deploy(threading.Thread):
    """One deploy in its own thread, as the API runs it."""

    def __init__(self, world: World, app: App, source: BuildSource | None = None) -> None:
        super().__init__(daemon=True)
        self.world, self.app, self.source = world, app, source or BuildSource()
        self.events: list[DeployEvent] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            DeployPipeline(self.world.platform).run(
                self.world.user(),
                self.app,
                static_tarball(),
                self.events.append,
                source=self.source,
            )
        except BaseException as e:  # reported by the test
            self.error = e

    def steps(self) -> list[str]:
        return [e.message for e in self.events if isinstance(e, Step)]


def test_a_second_deploy_of_an_app_waits_for_the_first_ones_build_and_rollout(
    world: World, shop: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = GatedBuilds()
    monkeypatch.setattr(BUILD_IMAGE, builds)
    first = Deploy(world, shop)
    first.start()
    wait_until(lambda: builds.started == ["b1"], "the first build to start")
    second = Deploy(world, shop)
    second.start()
    wait_until(lambda: len(statuses(world)) == 2, "the second build's row")

    assert statuses(world) == {1: "running", 2: "queued"}
    wait_until(lambda: bool(second.steps()), "the second deploy to say it waits")
    assert second.steps()[0] == "queued: 1 build ahead of yours (build 1 of app shop)"

    builds.gate("b1").set()
    first.join(WAIT)
    wait_until(lambda: builds.started == ["b1", "b2"], "the second build to start")
    builds.gate("b2").set()
    second.join(WAIT)

    assert (first.error, second.error) == (None, None)
    assert releases(world) == [(1, 1, "succeeded"), (2, 2, "succeeded")]
    assert statuses(world) == {1: "succeeded", 2: "succeeded"}
    with world.db.session() as session:
        b1 = session.get(Build, 1)
        assert b1 is not None and b1.queued_at and b1.started_at and b1.finished_at
        assert b1.started_by == "alice" and b1.source_kind == "upload"


def test_a_queued_build_that_is_cancelled_never_starts_and_makes_no_release(
    world: World, shop: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = GatedBuilds()
    monkeypatch.setattr(BUILD_IMAGE, builds)
    first, second = Deploy(world, shop), Deploy(world, shop)
    first.start()
    wait_until(lambda: builds.started == ["b1"], "the first build")
    second.start()
    wait_until(lambda: statuses(world).get(2) == "queued", "the second build queued")

    assert (
        cancel_build(world.platform, world.user(), shop, 2)
        == "build 2 of shop was cancelled before it started"
    )
    second.join(WAIT)
    assert isinstance(second.error, BuildCancelled)
    assert "cancelled while it was queued" in second.error.message
    builds.gate("b1").set()
    first.join(WAIT)

    assert builds.started == ["b1"]
    assert statuses(world) == {1: "succeeded", 2: "cancelled"}
    assert releases(world) == [(1, 1, "succeeded")]
    with pytest.raises(Conflict, match="is cancelled already"):
        cancel_build(world.platform, world.user(), shop, 2)


def test_a_running_build_that_is_cancelled_stops_and_the_release_is_untouched(
    world: World, shop: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = GatedBuilds()
    monkeypatch.setattr(BUILD_IMAGE, builds)
    deploy = Deploy(world, shop)
    deploy.start()
    wait_until(lambda: builds.started == ["b1"], "the build")

    assert (
        cancel_build(world.platform, world.user(), shop, 1)
        == "build 1 of shop was cancelled and stopped"
    )
    deploy.join(WAIT)

    assert isinstance(deploy.error, BuildCancelled)
    assert statuses(world) == {1: "cancelled"}
    assert releases(world) == []
    assert build_service(world.platform).queue.snapshot() == []


def test_a_build_that_timed_out_is_recorded_timed_out_with_its_log(
    world: World, shop: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow(*args: Any, log: Any, **kwargs: Any) -> BuiltImage:
        log("Step 1/2 : RUN sleep 600")
        raise BuildTimedOut(
            "the build of shop timed out after 2 s and was stopped; make it faster (the "
            "platform's limit is XAE_BUILD_TIMEOUT); the last lines of the build log:\n..."
        )

    monkeypatch.setattr(BUILD_IMAGE, slow)
    with pytest.raises(BuildTimedOut):
        DeployPipeline(world.platform).run(world.user(), shop, static_tarball(), lambda _: None)

    with world.db.session() as session:
        [build] = session.scalars(select(Build))
        assert build.status == "timed_out"
        assert build.log == (
            "Step 1/2 : RUN sleep 600\nthe build of shop timed out after 2 s and was stopped"
        )
    assert releases(world) == []


def test_a_pushed_commit_is_recorded_on_the_build_and_names_the_release(
    world: World, shop: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BUILD_IMAGE, fake_build())
    source = BuildSource(
        kind="git", commit="a" * 40, message="Fix the checkout\n\nlong text", branch="main"
    )
    DeployPipeline(world.platform).run(world.user(), shop, static_tarball(), print, source=source)

    with world.db.session() as session:
        [build] = session.scalars(select(Build))
        assert (build.source_kind, build.commit_sha, build.commit_message, build.branch) == (
            "git",
            "a" * 40,
            "Fix the checkout",
            "main",
        )
        [release] = session.scalars(select(Release))
        assert release.description == "Deploy aaaaaaa: Fix the checkout"


def test_only_the_newest_builds_keep_their_logs(
    world: World, shop: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.platform.settings = world.platform.settings.model_copy(update={"build_logs_kept": 2})

    def build(*a: Any, app: str, tag: str, log: Any, **k: Any) -> BuiltImage:
        log(f"log of {tag}")
        return built_image(app, tag)

    monkeypatch.setattr(BUILD_IMAGE, build)
    for _ in range(3):
        DeployPipeline(world.platform).run(world.user(), shop, static_tarball(), lambda _: None)

    with world.db.session() as session:
        logs = [b.log for b in session.scalars(select(Build).order_by(Build.id))]
        assert logs == ["", "log of b2", "log of b3"]
        assert prune_logs(session, shop.id, 1) == 1


def test_build_and_deploy_outcomes_are_published_to_the_apps_hooks(
    world: World, shop: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = world.platform
    sent: list[tuple[str, str]] = []

    def transport(
        target: Any, address: str, headers: dict[str, str], body: bytes, timeout: float
    ) -> int:
        sent.append((headers["X-Xae-Event"], address))
        return 200

    build_service(p).notifier = Notifier(
        p.db, p.vault, p.settings, transport=transport, background=False
    )
    with world.db.session() as session:
        session.add(
            Hook(
                app_id=shop.id,
                url="https://1.1.1.1/h",
                events=["build", "deploy"],
                secret_sealed=p.vault.seal({"secret": "s"}),
            )
        )
    monkeypatch.setattr(BUILD_IMAGE, fake_build())
    DeployPipeline(p).run(world.user(), shop, static_tarball(), lambda _: None)
    build_service(p).notifier.run_due()

    assert sent == [("build.succeeded", "1.1.1.1"), ("deploy.succeeded", "1.1.1.1")]
