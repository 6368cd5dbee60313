"""The plan: what each app should run, and the spec hash that decides what gets replaced."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.fakes import make_settings

from xae.config import Settings
from xae.control.plan import plan_app
from xae.domain.policy import DEFAULT_PORT
from xae.domain.runas import APP_RUN_AS, ROOT
from xae.runtime.base import AppPlan, InstanceSpec
from xae.store.models import App, Build, Formation, Release, Team


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, default_memory="512M", default_cpus=1.0, drain_seconds=10.0)


def formation(ptype: str, quantity: int, **kw: object) -> Formation:
    return Formation(process_type=ptype, quantity=quantity, restart_generation=0, **kw)


def plan(
    settings: Settings,
    *,
    config: dict[str, str] | None = None,
    version: int = 1,
    formations: list[Formation] | None = None,
    image: str = "xae/shop:1",
    port: int | None = None,
    app: App | None = None,
) -> AppPlan:
    app = app or App(name="shop", team=Team(name="ann"))
    release = Release(version=version, config_keys=sorted(config or {}))
    build = Build(
        image=image, processes={"web": "python app.py", "worker": "python w.py"}, port=port
    )
    if formations is None:
        formations = [formation("web", 1), formation("worker", 0)]
    return plan_app(app, release, build, formations, settings, config or {})


def hashes(p: AppPlan) -> dict[str, str]:
    return {proc.process: proc.spec.spec_hash for proc in p.processes}


def test_the_same_inputs_give_the_same_spec_hash(settings: Settings) -> None:
    assert hashes(plan(settings, config={"A": "1"})) == hashes(plan(settings, config={"A": "1"}))


def test_a_config_change_changes_every_process_spec_hash(settings: Settings) -> None:
    before = hashes(plan(settings, config={"A": "1"}))
    after = hashes(plan(settings, config={"A": "2"}))
    assert before["web"] != after["web"]
    assert before["worker"] != after["worker"]


def test_a_new_release_changes_the_spec_hash_even_with_the_same_build(settings: Settings) -> None:
    assert hashes(plan(settings, version=1))["web"] != hashes(plan(settings, version=2))["web"]


def test_a_new_image_changes_the_spec_hash(settings: Settings) -> None:
    assert hashes(plan(settings, image="a:1"))["web"] != hashes(plan(settings, image="a:2"))["web"]


def test_a_memory_change_changes_only_that_process_spec_hash(settings: Settings) -> None:
    before = hashes(plan(settings))
    after = hashes(
        plan(
            settings,
            formations=[formation("web", 1, memory_bytes=256 * 1024**2), formation("worker", 0)],
        )
    )
    assert before["web"] != after["web"]
    assert before["worker"] == after["worker"]


def test_a_cpu_change_changes_the_spec_hash(settings: Settings) -> None:
    after = hashes(plan(settings, formations=[formation("web", 1, cpus=0.5)]))
    assert hashes(plan(settings))["web"] != after["web"]


def test_a_restart_changes_the_spec_hash_of_the_restarted_process(settings: Settings) -> None:
    restarted = formation("web", 1)
    restarted.restart_generation = 1
    after = hashes(plan(settings, formations=[restarted, formation("worker", 0)]))
    before = hashes(plan(settings))
    assert before["web"] != after["web"]
    assert before["worker"] == after["worker"]


def test_scaling_does_not_change_the_spec_hash(settings: Settings) -> None:
    scaled = hashes(plan(settings, formations=[formation("web", 5), formation("worker", 2)]))
    assert scaled == hashes(plan(settings))


def test_only_web_gets_a_port_defaulting_to_5000(settings: Settings) -> None:
    specs = {p.process: p.spec for p in plan(settings).processes}
    assert specs["web"].port == DEFAULT_PORT == 5000
    assert specs["worker"].port is None


def test_web_uses_the_port_the_build_declares(settings: Settings) -> None:
    specs = {p.process: p.spec for p in plan(settings, port=8000).processes}
    assert specs["web"].port == 8000
    assert specs["worker"].port is None


def test_quantities_come_from_the_formation_and_missing_types_get_none(settings: Settings) -> None:
    quantities = {
        p.process: p.quantity for p in plan(settings, formations=[formation("web", 3)]).processes
    }
    assert quantities == {"web": 3, "worker": 0}


def test_specs_carry_the_release_config_command_image_and_default_limits(
    settings: Settings,
) -> None:
    web = next(
        p.spec for p in plan(settings, config={"A": "1"}, version=4).processes if p.process == "web"
    )
    assert (web.app, web.process, web.release) == ("shop", "web", 4)
    assert web.image == "xae/shop:1"
    assert web.command == "python app.py"
    assert web.env == {"A": "1"}
    assert web.memory_bytes == 512 * 1024**2
    assert web.cpus == 1.0


def test_formation_limits_override_the_defaults(settings: Settings) -> None:
    web = (
        plan(settings, formations=[formation("web", 1, memory_bytes=64 * 1024**2, cpus=0.25)])
        .processes[0]
        .spec
    )
    assert (web.memory_bytes, web.cpus) == (64 * 1024**2, 0.25)


def test_the_default_health_check_accepts_any_non_5xx_answer_on_slash(settings: Settings) -> None:
    check = plan(settings).health
    assert check.path == "/"
    assert not check.strict


def test_a_user_set_health_path_is_strict_and_app_overrides_apply(settings: Settings) -> None:
    app = App(
        name="shop",
        team=Team(name="ann"),
        health_path="/healthz",
        health_timeout=5.0,
        health_attempts=7,
        drain_seconds=0.0,
    )
    p = plan(settings, app=app)
    assert (p.health.path, p.health.timeout, p.health.attempts) == ("/healthz", 5.0, 7)
    assert p.health.strict
    assert p.drain_seconds == 0.0


def test_the_drain_time_defaults_to_the_settings(settings: Settings) -> None:
    assert plan(settings).drain_seconds == 10.0


def test_spec_hashes_lists_every_process(settings: Settings) -> None:
    p = plan(settings)
    assert p.spec_hashes() == set(hashes(p).values())


def test_specs_carry_the_tmp_and_disk_bounds_and_a_change_replaces_instances(
    tmp_path: Path,
) -> None:
    small = make_settings(tmp_path, tmp_size="32M", instance_disk="2G")
    web = plan(small).processes[0].spec
    assert (web.tmp_bytes, web.disk_bytes) == (32 * 1024**2, 2 * 1024**3)
    larger = make_settings(tmp_path, tmp_size="128M", instance_disk="2G")
    assert hashes(plan(small))["web"] != hashes(plan(larger))["web"]


def test_a_read_only_filesystem_reaches_the_spec_and_replaces_only_that_process(
    settings: Settings,
) -> None:
    writable = plan(settings)
    read_only = plan(
        settings, formations=[formation("web", 1, read_only=True), formation("worker", 0)]
    )
    web = read_only.processes[0].spec
    assert web.process == "web" and web.read_only is True
    assert read_only.processes[1].spec.read_only is False
    assert hashes(read_only)["web"] != hashes(writable)["web"]
    assert hashes(read_only)["worker"] == hashes(writable)["worker"]


def test_a_writable_filesystem_keeps_the_spec_hash_it_had_before_the_option_existed(
    settings: Settings,
) -> None:
    # Upgrading xae must not roll every instance out: `read_only=False` adds nothing to the hash.
    explicit = plan(
        settings, formations=[formation("web", 1, read_only=False), formation("worker", 0)]
    )
    assert hashes(explicit) == hashes(plan(settings))


def test_who_the_image_runs_as_is_carried_and_only_a_new_user_changes_the_hash(
    settings: Settings,
) -> None:
    app = App(name="shop", team=Team(name="ann"))
    release, formations = Release(version=1), [formation("web", 1)]

    def web(run_as: str | None) -> InstanceSpec:
        build = Build(image="xae/shop:1", processes={"web": "x"}, port=None, run_as=run_as)
        return plan_app(app, release, build, formations, settings, {}).processes[0].spec

    assert web(None).run_as == web(APP_RUN_AS).run_as == APP_RUN_AS
    assert web(None).spec_hash == web(APP_RUN_AS).spec_hash  # older builds keep their hash
    assert web(ROOT).run_as == ROOT and web(ROOT).root_in_userns
    assert len({web(None).spec_hash, web("101:101").spec_hash, web(ROOT).spec_hash}) == 3
