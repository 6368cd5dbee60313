"""What a build's manifest (`xae.yaml` / `app.json`) changes when it is released.

The builder validated the manifest and stored it on the build (`Build.manifest`); the release
applies it, under the app's lock (`xae.control.releases.release_build`):

- `env`: a default (or, for `generator: secret`, a random value) is set for each key the app
  has not set, in the new release's config; a `required` key the app has not set refuses the
  deploy before anything rolls out, naming the keys and how to set them.
- `formation`: quantities and sizes are applied on the app's first deploy only (while it has
  no current release); afterwards `ps:scale` decides, as on Heroku.
- `healthcheck`: read by the plan (`xae.control.plan.health_for`, through
  `xae.domain.manifest.stored_health`) for the release it belongs to, unless the app's own
  setting (`apps:update --health-path`) overrides it.
- `cron` and `postdeploy`: exposed here (`manifest_cron_jobs`, `manifest_postdeploy`) for the
  cron scheduler and the one-off runner.

The defaults are sealed at rest like config vars (`store_manifest`; `Build.manifest` keeps the
keys without their values): `stored_manifest(build, vault)` opens them for the release.

What it must never do: put a config value (a default or a generated secret) into a message,
a log line, an audit event or the store in clear; only key names.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.orm import Session

from xae.control.formation import formations
from xae.control.limits import Limits, check_cpus, check_instances, check_memory
from xae.domain.manifest import CronEntry, Manifest
from xae.errors import InvalidInput, MissingConfig
from xae.store.models import App, Build
from xae.store.sealed import Vault

SECRET_BYTES = 32
"""A generated secret has 32 random bytes (64 hex digits)."""


def store_manifest(vault: Vault, build: Build, manifest: dict[str, Any] | None) -> None:
    """Record `manifest` (a validated `Manifest` as JSON) on `build`: its `env` default values
    sealed (`Build.env_defaults_sealed`), the rest as JSON with each key kept, its value left
    out. An `app.json` default can be a password: it never lies in the store in clear."""
    stored, defaults = split_defaults(manifest)
    build.manifest = stored
    build.env_defaults_sealed = vault.seal(defaults) if defaults else ""


def split_defaults(
    manifest: dict[str, Any] | None,
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """`manifest` without its env default values, and those values by key."""
    if not manifest or not isinstance(manifest.get("env"), dict):
        return manifest, {}
    env: dict[str, Any] = {}
    defaults: dict[str, str] = {}
    for key, var in manifest["env"].items():
        if isinstance(var, dict) and isinstance(var.get("value"), str):
            defaults[key] = var["value"]
            var = {k: v for k, v in var.items() if k != "value"}
        env[key] = var
    return {**manifest, "env": env}, defaults


def stored_manifest(build: Build | None, vault: Vault | None = None) -> Manifest | None:
    """The manifest stored on `build`, or None when it has none. With `vault`, its env
    defaults are opened and put back (for the release, which applies them); without, the
    manifest lacks them (enough for cron jobs, postdeploy and the health check)."""
    if build is None or not build.manifest:
        return None
    document = build.manifest
    if vault is not None and build.env_defaults_sealed:
        defaults = vault.open(build.env_defaults_sealed)
        env = {
            key: {**var, "value": defaults[key]} if key in defaults else var
            for key, var in document.get("env", {}).items()
        }
        document = {**document, "env": env}
    return Manifest.model_validate(document)


def manifest_cron_jobs(build: Build) -> list[CronEntry]:
    """The cron jobs `build`'s manifest declares (name, schedule, command, zone, overlap),
    validated already; empty without a manifest."""
    manifest = stored_manifest(build)
    return list(manifest.cron) if manifest else []


def manifest_postdeploy(build: Build) -> str | None:
    """The command `build`'s manifest runs once after the app's first successful deploy."""
    manifest = stored_manifest(build)
    return manifest.postdeploy if manifest else None


def apply_env(manifest: Manifest, config: dict[str, str], app: str) -> list[str]:
    """Set in `config` the manifest's defaults for keys it lacks; the keys set, sorted.

    Raises MissingConfig, naming every required key with neither a value nor a default."""
    missing = [
        key
        for key, var in manifest.env.items()
        if var.required and key not in config and var.value is None and var.generator is None
    ]
    if missing:
        lines = [
            f"  {key}" + (f": {_one_line(var.description)}" if var.description else "")
            for key in missing
            if (var := manifest.env[key])
        ]
        example = " ".join(f"{key}=..." for key in missing)
        raise MissingConfig(
            f"the manifest of {app} requires config keys {app} has not set:\n"
            + "\n".join(lines)
            + f"\nSet them with `xae config:set {example} --app {app}` and deploy again; "
            "nothing was rolled out and the current release keeps serving.",
            details={"missing": missing},
        )
    added = []
    for key, var in manifest.env.items():
        if key in config:
            continue
        if var.value is not None:
            config[key] = var.value
        elif var.generator == "secret":
            config[key] = secrets.token_hex(SECRET_BYTES)
        else:
            continue
        added.append(key)
    return sorted(added)


def apply_first_formation(
    session: Session, limits: Limits, app: App, manifest: Manifest, processes: dict[str, str]
) -> list[str]:
    """Apply the manifest's formation to `app`'s rows (made by `ensure_formation` and flushed),
    checked against the platform's ceilings; the process types changed. Only for a first
    deploy: the caller decides that."""
    rows = {f.process_type: f for f in formations(session, app)}
    changed = []
    for ptype, size in manifest.formation.items():
        row = rows.get(ptype)
        if row is None or ptype not in processes:
            continue
        where = f"the manifest's formation.{ptype}"
        try:
            if size.quantity is not None:
                row.quantity = size.quantity
            if size.memory is not None:
                row.memory_bytes = check_memory(limits, size.memory)
            if size.cpus is not None:
                row.cpus = check_cpus(limits, size.cpus)
        except InvalidInput as e:
            raise InvalidInput(f"{where}: {e.message}") from e
        changed.append(ptype)
    quantities = {t: r.quantity for t, r in rows.items() if t in processes}
    try:
        check_instances(limits, app.name, quantities)
    except InvalidInput as e:
        raise InvalidInput(f"the manifest's formation: {e.message}", details=e.details) from e
    return sorted(changed)


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 100 else flat[:99] + "…"
