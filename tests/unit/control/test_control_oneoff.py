"""`run_in_release`, the one entry for one-off runs (release phase, cron, postdeploy): the spec
it builds from a release, its exit code, its timeout, and the names it refuses."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.unit.fakes import World, deploy

from xae.auth.policy import Principal
from xae.control.apps import get_app
from xae.control.oneoff import OneOffTimedOut, run_in_release
from xae.control.releases import set_config
from xae.domain.resources import parse_memory
from xae.errors import InvalidInput
from xae.runtime.base import OneOffResult
from xae.store.models import Release


def release_id(world: World, name: str, version: int) -> int:
    with world.db.session() as session:
        app = get_app(session, name)
        found = session.scalar(
            select(Release.id).where(Release.app_id == app.id, Release.version == version)
        )
        assert found is not None
        return found


def test_a_one_off_runs_in_the_given_release_with_its_config_and_default_limits(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1", {"web": "python app.py"})
    set_config(world.platform, alice, shop, {"TOKEN": "t2"})  # v2: same image, new config
    world.runtime.oneoff_script = lambda spec: (["seeded"], OneOffResult(exit_code=4))
    lines: list[str] = []

    code = run_in_release(
        world.platform, shop, release_id(world, shop, 2), "python seed.py", "postdeploy",
        "postdeploy-v2", lines.append,
    )  # fmt: skip

    assert (code, lines) == (4, ["seeded"])
    [spec] = world.runtime.oneoffs
    settings = world.platform.settings
    assert (spec.release, spec.image, spec.env) == (2, "img:1", {"TOKEN": "t2"})
    assert (spec.kind, spec.name, spec.owner) == ("postdeploy", "postdeploy-v2", "alice")
    assert spec.memory_bytes == parse_memory(settings.default_memory)
    assert (spec.cpus, spec.pids_limit) == (settings.default_cpus, settings.pids_limit)
    assert spec.timeout == settings.oneoff_timeout


def test_a_one_off_past_its_timeout_raises(world: World, shop: str) -> None:
    deploy(world.platform, shop, "img:1", {"web": "python app.py"})
    world.runtime.oneoff_script = lambda spec: ([], OneOffResult(exit_code=None, timed_out=True))

    with pytest.raises(OneOffTimedOut, match="did not finish within 5 s"):
        run_in_release(
            world.platform, shop, release_id(world, shop, 1), "sleep 60", "run", "run-1",
            print, timeout=5,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "name", "says"),
    [
        ("shell", "run-1", "unknown one-off kind"),
        ("run", "Run_1", "DNS label"),
        ("run", "x" * 41, "DNS label"),
    ],
)
def test_bad_kinds_and_names_are_refused(
    world: World, shop: str, kind: str, name: str, says: str
) -> None:
    deploy(world.platform, shop, "img:1", {"web": "python app.py"})
    with pytest.raises(InvalidInput, match=says):
        run_in_release(world.platform, shop, release_id(world, shop, 1), "true", kind, name, print)
    assert world.runtime.oneoffs == []
