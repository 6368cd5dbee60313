"""A build's manifest at release: config defaults fill what the app has not set, required keys
refuse the deploy before anything rolls out, the formation applies on the first deploy only,
and the health check follows the release's manifest unless the app set its own."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.unit.fakes import World

from xae.auth.policy import Principal
from xae.config import Settings
from xae.control.apps import get_app
from xae.control.configvars import open_config, rotate_key
from xae.control.formation import FormationChange, change, formations
from xae.control.manifests import (
    manifest_cron_jobs,
    manifest_postdeploy,
    store_manifest,
    stored_manifest,
)
from xae.control.plan import health_for
from xae.control.releases import release_build, set_config
from xae.domain.manifest_files import parse_xae_yaml
from xae.errors import InvalidInput, MissingConfig
from xae.store.models import App, Build, Release

MANIFEST = b"""
formation: {web: {quantity: 2, memory: 256M, cpus: 0.5}, worker: {quantity: 1}}
healthcheck: {path: /health, timeout: 3}
env:
  GREETING: {value: hello-default}
  API_KEY: {required: true, description: "the key of the\\n payment API"}
  SALT: {generator: secret}
cron:
  - {name: tick, schedule: "*/5 * * * *", command: python tick.py}
postdeploy: python seed.py
"""


def manifest_build(world: World, name: str, image: str, manifest: bytes = MANIFEST) -> int:
    """A succeeded build of `name` carrying `manifest`, stored as the pipeline stores it."""
    parsed = parse_xae_yaml(manifest).manifest.model_dump(mode="json", exclude_none=True)
    with world.db.session() as session:
        build = Build(
            app_id=get_app(session, name).id,
            status="succeeded",
            image=image,
            processes={"web": "python app.py", "worker": "python worker.py"},
        )
        store_manifest(world.platform.vault, build, parsed)
        session.add(build)
        session.flush()
        return build.id


def releases(world: World, name: str) -> list[Release]:
    with world.db.session() as session:
        app = get_app(session, name)
        return list(session.scalars(select(Release).where(Release.app_id == app.id)))


def quantities(world: World, name: str) -> dict[str, tuple[int, int | None, float | None]]:
    with world.db.session() as session:
        return {
            f.process_type: (f.quantity, f.memory_bytes, f.cpus)
            for f in formations(session, get_app(session, name))
        }


def test_a_missing_required_key_refuses_the_deploy_naming_it_and_how_to_set_it(
    world: World, shop: str
) -> None:
    build_id = manifest_build(world, shop, "img:1")
    with pytest.raises(MissingConfig) as caught:
        release_build(world.platform, "alice", shop, build_id, "Deploy")
    message = caught.value.message
    assert "API_KEY: the key of the payment API" in message
    assert "`xae config:set API_KEY=... --app shop`" in message
    assert "current release keeps serving" in message
    assert caught.value.details == {"missing": ["API_KEY"]}
    assert "hello-default" not in message
    assert releases(world, shop) == [] and world.runtime.of(shop) == []


def test_once_set_the_deploy_goes_through_with_the_defaults_in_the_release_config(
    world: World, shop: str, alice: Principal
) -> None:
    set_config(world.platform, alice, shop, {"API_KEY": "k", "GREETING": "mine"})  # v1
    steps: list[str] = []
    build_id = manifest_build(world, shop, "img:1")

    version = release_build(world.platform, "alice", shop, build_id, "Deploy", steps.append)

    assert version == 2
    assert "config defaults from the manifest: SALT" in steps
    assert "first deploy: formation of web, worker from the manifest" in steps
    assert not any("hello-default" in s for s in steps)
    with world.db.session() as session:
        app = get_app(session, shop)
        config = open_config(world.platform.vault, app)
    assert config["API_KEY"] == "k" and config["GREETING"] == "mine"  # the app's value wins
    assert re.fullmatch(r"[0-9a-f]{64}", config["SALT"])
    assert quantities(world, shop) == {"web": (2, 256 * 1024**2, 0.5), "worker": (1, None, None)}
    assert len(world.runtime.of(shop, "web")) == 2
    assert world.runtime.spec_of(world.runtime.of(shop, "web")[0]).env["SALT"] == config["SALT"]


def test_a_default_is_set_when_the_app_has_no_value(world: World, shop: str) -> None:
    manifest = b"env: {GREETING: hello-default}"
    release_build(world.platform, "alice", shop, manifest_build(world, shop, "i:1", manifest), "D")
    [web] = world.runtime.of(shop, "web")
    assert world.runtime.spec_of(web).env == {"GREETING": "hello-default"}


def test_the_formation_applies_on_the_first_deploy_only_then_ps_scale_wins(
    world: World, shop: str, alice: Principal
) -> None:
    set_config(world.platform, alice, shop, {"API_KEY": "k"})
    release_build(world.platform, "alice", shop, manifest_build(world, shop, "img:1"), "Deploy")
    change(world.platform, alice, shop, [FormationChange("web", quantity=1)])
    salt = open_config(world.platform.vault, _app(world, shop))["SALT"]

    release_build(world.platform, "alice", shop, manifest_build(world, shop, "img:2"), "Deploy")

    assert quantities(world, shop)["web"][0] == 1
    assert open_config(world.platform.vault, _app(world, shop))["SALT"] == salt, "kept"


def test_a_formation_over_the_platform_ceiling_refuses_the_deploy(
    world: World, shop: str, alice: Principal
) -> None:
    manifest = b"formation: {web: {quantity: 100}, worker: {quantity: 1}}"
    with pytest.raises(InvalidInput, match="the manifest's formation: shop would run 101"):
        release_build(
            world.platform, "alice", shop, manifest_build(world, shop, "i:1", manifest), "D"
        )
    assert releases(world, shop) == []


def _app(world: World, name: str) -> App:
    with world.db.session() as session:
        return get_app(session, name)


def test_the_health_check_comes_from_the_manifest_unless_the_app_set_its_own() -> None:
    settings = Settings()
    build = Build(
        manifest=parse_xae_yaml(b"healthcheck: {path: /health, timeout: 3}").manifest.model_dump(
            mode="json", exclude_none=True
        )
    )
    app = App(name="shop")
    check = health_for(app, settings, build)
    assert (check.path, check.timeout, check.strict) == ("/health", 3.0, True)
    assert check.attempts == settings.health_attempts
    app.health_path, app.health_timeout = "/own", 1.0
    check = health_for(app, settings, build)
    assert (check.path, check.timeout) == ("/own", 1.0)
    plain = health_for(App(name="shop"), settings, Build(manifest=None))
    assert (plain.path, plain.strict) == (settings.health_path, False)


def test_cron_jobs_and_the_postdeploy_command_are_read_from_the_build(
    world: World, shop: str
) -> None:
    with world.db.session() as session:
        build = session.get(Build, manifest_build(world, shop, "img:1"))
        assert build is not None
        [job] = manifest_cron_jobs(build)
        assert (job.name, job.schedule, job.command, job.overlap) == (
            "tick",
            "*/5 * * * *",
            "python tick.py",
            "skip",
        )
        assert manifest_postdeploy(build) == "python seed.py"
        assert manifest_cron_jobs(Build(manifest=None)) == []
        assert manifest_postdeploy(Build(manifest=None)) is None


def test_a_default_is_sealed_in_the_store_and_never_in_clear_in_the_database_file(
    world: World, shop: str, alice: Principal
) -> None:
    secret = f"sk-default-{secrets.token_hex(8)}"
    manifest = f"env: {{PAYMENT_KEY: {{value: {secret}, description: the key}}, API_KEY: {{}}}}"
    build_id = manifest_build(world, shop, "img:1", manifest.encode())
    with world.db.session() as session:
        build = session.get(Build, build_id)
        assert build is not None and build.manifest is not None
        # The keys are kept; the default's value only sealed.
        env = build.manifest["env"]
        assert env["PAYMENT_KEY"] == {"description": "the key", "required": False}
        assert set(env) == {"PAYMENT_KEY", "API_KEY"}
        assert build.env_defaults_sealed and secret not in build.env_defaults_sealed
        assert (stored := stored_manifest(build)) is not None
        assert stored.env["PAYMENT_KEY"].value is None  # what cron and postdeploy read
    rotate_key(world.db, world.platform.vault, "root")  # the default opens with the new key

    steps: list[str] = []
    release_build(world.platform, "alice", shop, build_id, "Deploy", steps.append)

    assert "config defaults from the manifest: PAYMENT_KEY" in steps
    assert not any(secret in step for step in steps)
    [web] = world.runtime.of(shop, "web")
    assert world.runtime.spec_of(web).env["PAYMENT_KEY"] == secret
    world.db.engine.dispose()  # the WAL checkpointed: every byte is in the files read below
    path = Path(str(world.db.engine.url.database))
    stored_bytes = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert secret.encode() not in stored_bytes
