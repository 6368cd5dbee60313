"""Turning store rows and runtime instances into the API's public shapes."""

from __future__ import annotations

from sqlalchemy.orm import Session

from xae.api.schemas import AppPublic, FormationPublic, InstancePublic, ReleasePublic
from xae.control.configvars import config_names
from xae.control.formation import formations, process_types
from xae.control.platform import Platform
from xae.domain.resources import format_memory, parse_memory
from xae.runtime.base import Instance
from xae.store.models import App, Build, Release


def app_public(p: Platform, app: App) -> AppPublic:
    return AppPublic(
        name=app.name,
        url=p.url_for(app.name),
        team=app.team.name,
        created_at=app.created_at,
        release=app.current_release.version if app.current_release else None,
    )


def release_public(session: Session, release: Release) -> ReleasePublic:
    build = session.get(Build, release.build_id) if release.build_id else None
    return ReleasePublic(
        version=release.version,
        description=release.description,
        status=release.status,
        build_id=release.build_id,
        image=build.image if build else None,
        created_at=release.created_at,
        created_by=release.created_by,
        config_keys=config_names(release),
        failure_reason=release.failure_reason,
        commit=build.commit_sha if build else None,
        commit_message=build.commit_message if build else None,
    )


def formation_public(p: Platform, session: Session, app: App) -> list[FormationPublic]:
    commands = process_types(session, app)
    default_memory = parse_memory(p.settings.default_memory)
    return [
        FormationPublic(
            type=f.process_type,
            quantity=f.quantity,
            memory=format_memory(f.memory_bytes or default_memory),
            cpus=f.cpus or p.settings.default_cpus,
            command=commands.get(f.process_type, ""),
            read_only=f.read_only,
        )
        for f in formations(session, app)
        if f.process_type in commands
    ]


def _healthy(p: Platform, instance: Instance) -> bool | None:
    if instance.process != "web":
        return None
    return instance.ready if instance.ready is not None else p.health.get(instance.id)


def instance_public(p: Platform, instance: Instance) -> InstancePublic:
    return InstancePublic(
        name=instance.name,
        type=instance.process,
        release=instance.release,
        state=instance.state,
        healthy=_healthy(p, instance),
        address=f"{instance.address}:{instance.port}"
        if instance.address and instance.port
        else instance.address,
        started_at=instance.started_at,
        memory=format_memory(instance.memory_bytes),
        cpus=instance.cpus,
        user=instance.user,
    )
