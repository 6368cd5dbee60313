"""Ceilings: what one app may ask of the machine, refused with the numbers, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from tests.unit.fakes import World, deploy, make_settings

from xae.auth.policy import Principal
from xae.control.apps import get_app
from xae.control.configvars import open_config
from xae.control.formation import FormationChange, change, formations
from xae.control.limits import (
    DEFAULT_MAX_MEMORY,
    Limits,
    check_config,
    check_config_value,
    check_instances,
    check_memory,
    limits_for,
    machine_cpus,
    machine_memory,
)
from xae.control.releases import set_config
from xae.domain.procfile import MAX_PROCESS_TYPES, parse_procfile
from xae.errors import DeployFailed, InvalidInput, InvalidProcfile
from xae.store.models import Release

GiB = 1024**3
LIMITS = Limits(
    memory=2 * GiB, cpus=2.0, instances=10, config_keys=3, config_bytes=1024, keep_failed_releases=2
)


def test_by_default_an_instance_gets_at_most_8g_and_never_more_than_the_machine(
    tmp_path: Path,
) -> None:
    limits = limits_for(make_settings(tmp_path))
    assert limits.memory == min(machine_memory(), DEFAULT_MAX_MEMORY)
    assert limits.cpus == machine_cpus()


def test_an_operator_maximum_applies_but_cannot_exceed_the_machine(tmp_path: Path) -> None:
    assert limits_for(make_settings(tmp_path, max_memory="1G", max_cpus=0.5)).memory == GiB
    assert limits_for(make_settings(tmp_path, max_cpus=0.5)).cpus == 0.5
    huge = limits_for(make_settings(tmp_path, max_memory="100000G", max_cpus=10_000))
    assert huge.memory == machine_memory()
    assert huge.cpus == machine_cpus()


@pytest.mark.parametrize("text", ["100000G", "99999999999999999999G", "3G", "2049M"])
def test_memory_above_the_ceiling_is_refused_with_both_numbers(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_memory(LIMITS, text)
    message = caught.value.message
    assert f"memory {text!r} is more than the maximum of 2G per instance" in message
    assert "this machine has" in message


def test_memory_up_to_the_ceiling_is_accepted() -> None:
    assert check_memory(LIMITS, "2G") == 2 * GiB


def test_more_instances_than_the_app_may_run_are_refused_naming_the_total() -> None:
    check_instances(LIMITS, "shop", {"web": 6, "worker": 4})
    with pytest.raises(
        InvalidInput,
        match=r"shop would run 11 instances \(web=6, worker=5\); "
        r"the maximum is 10 per app",
    ):
        check_instances(LIMITS, "shop", {"web": 6, "worker": 5, "clock": 0})


def test_a_nul_in_a_config_value_is_refused_saying_so() -> None:
    with pytest.raises(InvalidInput, match=r"the value of TOKEN contains a NUL character"):
        check_config_value("TOKEN", "abc\x00def")


def test_a_lone_surrogate_in_a_config_value_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not valid Unicode"):
        check_config_value("TOKEN", "abc\ud800")


def test_a_config_with_too_many_keys_or_bytes_is_refused_with_the_numbers() -> None:
    check_config(LIMITS, "shop", {"A": "1", "B": "2", "C": "3"})
    with pytest.raises(InvalidInput, match="shop would have 4 config vars; the maximum is 3"):
        check_config(LIMITS, "shop", {"A": "1", "B": "2", "C": "3", "D": "4"})
    with pytest.raises(InvalidInput, match=r"would be 1026 bytes .* maximum is 1024 per app"):
        check_config(LIMITS, "shop", {"A": "x" * 1025})


def test_a_procfile_with_too_many_process_types_is_refused() -> None:
    lines = "\n".join(f"p{n}: run" for n in range(MAX_PROCESS_TYPES))
    assert len(parse_procfile(lines)) == MAX_PROCESS_TYPES
    with pytest.raises(
        InvalidProcfile, match="Procfile line 31: the Procfile declares more than 30 process types"
    ):
        parse_procfile(lines + "\nlast: run")


# -- through the services -------------------------------------------------------------------


@pytest.fixture
def deployed(world: World, shop: str) -> str:
    deploy(world.platform, shop, "img:1")
    world.events.clear()
    return shop


def test_a_resize_beyond_the_ceiling_changes_nothing(
    world: World, deployed: str, alice: Principal
) -> None:
    [before] = world.runtime.of(deployed, "web")
    with pytest.raises(InvalidInput, match="more than the maximum"):
        change(world.platform, alice, deployed, [FormationChange("web", memory="100000G")])
    with pytest.raises(InvalidInput, match=f"maximum of {machine_cpus()} per instance"):
        change(world.platform, alice, deployed, [FormationChange("web", cpus=machine_cpus() + 1)])
    assert world.runtime.of(deployed, "web") == [before]
    with world.db.session() as session:
        [web] = [
            f for f in formations(session, get_app(session, deployed)) if f.process_type == "web"
        ]
        assert (web.memory_bytes, web.cpus) == (None, None)


def test_instances_are_capped_across_process_types(
    world: World, deployed: str, alice: Principal
) -> None:
    world.platform.limits = LIMITS
    change(world.platform, alice, deployed, [FormationChange("web", quantity=5)])
    with pytest.raises(InvalidInput, match="would run 11 instances"):
        change(world.platform, alice, deployed, [FormationChange("worker", quantity=6)])
    assert len(world.runtime.of(deployed)) == 5


def test_a_config_over_the_ceiling_makes_no_release(
    world: World, deployed: str, alice: Principal
) -> None:
    world.platform.limits = LIMITS
    set_config(world.platform, alice, deployed, {"A": "1", "B": "2"})
    with pytest.raises(InvalidInput, match="would have 4 config vars"):
        set_config(world.platform, alice, deployed, {"C": "3", "D": "4"})
    with pytest.raises(InvalidInput, match="contains a NUL"):
        set_config(world.platform, alice, deployed, {"C": "\x00"})
    with world.db.session() as session:
        app = get_app(session, deployed)
        assert open_config(world.platform.vault, app) == {"A": "1", "B": "2"}
        assert session.scalar(select(Release.version).order_by(Release.version.desc())) == 2


def test_only_the_newest_failed_releases_are_kept(
    world: World, deployed: str, alice: Principal
) -> None:
    world.platform.limits = LIMITS  # keeps 2 failed releases
    world.runtime.unhealthy_images.add("img:1")
    for n in range(4):
        with pytest.raises(DeployFailed):
            set_config(world.platform, alice, deployed, {"BIG": str(n) * 100})
    world.runtime.unhealthy_images.clear()
    assert set_config(world.platform, alice, deployed, {"A": "1"}) == 6

    with world.db.session() as session:
        app = get_app(session, deployed)
        rows = session.scalars(
            select(Release).where(Release.app_id == app.id).order_by(Release.version)
        )
        assert [(r.version, r.status) for r in rows] == [
            (1, "succeeded"),
            (4, "failed"),
            (5, "failed"),
            (6, "succeeded"),
        ]
        assert open_config(world.platform.vault, app) == {"A": "1"}
