"""What an app should look like right now, computed from the store's rows. Pure: no I/O.

The plan is the reconciler's input: for each process type, how many instances of which exact
spec. An instance whose `spec_hash` differs from the plan's is out of date and gets replaced.
"""

from __future__ import annotations

import hashlib
import json

from xae.config import Settings
from xae.domain.manifest import stored_health
from xae.domain.policy import DEFAULT_PORT
from xae.domain.procfile import scaled_processes
from xae.domain.resources import parse_memory
from xae.domain.runas import APP_RUN_AS
from xae.runtime.base import AppPlan, HealthCheck, InstanceSpec, ProcessPlan
from xae.store.models import App, Build, Formation, Release


def health_for(app: App, settings: Settings, build: Build | None = None) -> HealthCheck:
    """The app's health check: its own settings (`apps:update --health-*`) first, then the
    manifest of `build` (the release's), then the platform's defaults."""
    declared = stored_health(build.manifest if build is not None else None)
    path = app.health_path or (declared.path if declared else None)
    return HealthCheck(
        path=path or settings.health_path,
        timeout=app.health_timeout
        or (declared.timeout if declared else None)
        or settings.health_timeout,
        attempts=app.health_attempts
        or (declared.attempts if declared else None)
        or settings.health_attempts,
        interval=settings.health_interval,
        strict=path is not None,
        host=f"{app.name}.{settings.base_domain}",
    )


def _hash(payload: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def plan_app(
    app: App,
    release: Release,
    build: Build,
    formations: list[Formation],
    settings: Settings,
    config: dict[str, str],
) -> AppPlan:
    """The plan of `app` at `release`; `config` is the release's config, opened by the caller
    (the plan is the one place values reach the runtime)."""
    by_type = {f.process_type: f for f in formations}
    processes: list[ProcessPlan] = []
    for ptype, command in sorted(scaled_processes(build.processes).items()):
        formation = by_type.get(ptype)
        quantity = formation.quantity if formation else 0
        memory = (formation.memory_bytes if formation else None) or _default_memory(settings)
        cpus = (formation.cpus if formation else None) or settings.default_cpus
        generation = formation.restart_generation if formation else 0
        port = (build.port or DEFAULT_PORT) if ptype == "web" else None
        env = dict(config)
        tmp, disk = parse_memory(settings.tmp_size), parse_memory(settings.instance_disk)
        identity: dict[str, object] = {
            "release": release.version,
            "image": build.image,
            "command": command,
            "env": env,
            "port": port,
            "memory": memory,
            "cpus": cpus,
            "pids": settings.pids_limit,
            "generation": generation,
            "tmp": tmp,
            "disk": disk,
        }
        read_only = bool(formation.read_only) if formation else False
        if read_only:  # only when set, so existing instances keep their hash (no rollout)
            identity["read_only"] = True
        run_as = build.run_as or APP_RUN_AS
        if run_as != APP_RUN_AS:  # only then: every older spec keeps its hash
            identity["run_as"] = run_as
        spec = InstanceSpec(
            app=app.name,
            process=ptype,
            release=release.version,
            image=build.image or "",
            command=command,
            env=env,
            port=port,
            memory_bytes=memory,
            cpus=cpus,
            pids_limit=settings.pids_limit,
            spec_hash=_hash(identity),
            tmp_bytes=tmp,
            disk_bytes=disk,
            read_only=read_only,
            run_as=run_as,
        )
        processes.append(ProcessPlan(process=ptype, quantity=quantity, spec=spec))
    return AppPlan(
        app=app.name,
        owner=app.team.name,
        release=release.version,
        processes=tuple(processes),
        health=health_for(app, settings, build),
        drain_seconds=app.drain_seconds
        if app.drain_seconds is not None
        else settings.drain_seconds,
    )


def _default_memory(settings: Settings) -> int:
    return parse_memory(settings.default_memory)
