"""One-off runs: a command run once, to completion, in a new container of a release.

The release phase (`xae.control.releases`), cron runs (`xae.control.cron`) and a manifest's
postdeploy script all come here: `run_in_release` turns a release into a `OneOffSpec` (its
build's image and who it runs as, the release's own config, the platform's default limits)
and hands it to the backend, which confines it exactly as it confines an instance, streams its
output line by line and removes it afterwards.

It never holds the app's lock itself: the release phase runs under the lock its deploy holds,
a cron run must not wait for (nor block) a deploy.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from xae.control.apps import get_app
from xae.control.configvars import open_config
from xae.control.platform import Platform
from xae.domain.resources import parse_memory
from xae.domain.runas import APP_RUN_AS
from xae.errors import InvalidInput, NotFound, XaeError
from xae.runtime.base import OneOffResult, OneOffSpec
from xae.store.models import Build, Release

ONEOFF_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
KINDS = frozenset({"release", "cron", "postdeploy", "run"})


class OneOffTimedOut(XaeError):
    """A one-off ran past its timeout and was killed."""

    code = "oneoff_timeout"
    status = 504
    temporary = True


def oneoff_spec(
    p: Platform,
    app_name: str,
    release_id: int,
    command: str,
    *,
    kind: str,
    name: str,
    timeout: float,
) -> OneOffSpec:
    """The spec of a one-off of release `release_id` of `app_name`: its image, its config."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown one-off kind {kind[:20]!r}: one of {', '.join(sorted(KINDS))}")
    if not ONEOFF_NAME.fullmatch(name):
        raise InvalidInput(
            f"the one-off name {name[:50]!r} must be a DNS label of at most 40 characters"
        )
    if not command.strip():
        raise InvalidInput(f"the {kind} command is empty")
    settings = p.settings
    with p.db.session() as session:
        app = get_app(session, app_name)
        release = session.get(Release, release_id)
        if release is None or release.app_id != app.id:
            raise NotFound(f"{app_name} has no such release: see `xae releases --app {app_name}`")
        build = session.get(Build, release.build_id) if release.build_id else None
        if build is None or not build.image:
            raise InvalidInput(f"v{release.version} of {app_name} has no image to run: deploy")
        return OneOffSpec(
            app=app.name,
            release=release.version,
            image=build.image,
            command=command,
            env=open_config(p.vault, release),
            kind=kind,
            name=name,
            memory_bytes=parse_memory(settings.default_memory),
            cpus=settings.default_cpus,
            pids_limit=settings.pids_limit,
            timeout=timeout,
            tmp_bytes=parse_memory(settings.tmp_size),
            run_as=build.run_as or APP_RUN_AS,
            owner=app.team.name,
        )


def run_spec(p: Platform, spec: OneOffSpec, on_line: Callable[[str], None]) -> OneOffResult:
    """Run `spec` on the platform's backend; its lines go to `on_line` as they come."""
    return p.backend.run_oneoff(spec, on_line)


def run_in_release(
    p: Platform,
    app_name: str,
    release_id: int,
    command: str,
    kind: str,
    name: str,
    on_line: Callable[[str], None],
    *,
    timeout: float | None = None,
) -> int:
    """Run `command` once in a new container of release `release_id` (by row id) of
    `app_name`, with that release's config; returns its exit code. Raises `OneOffTimedOut`
    when it ran past `timeout` (default: `XAE_ONEOFF_TIMEOUT`) and was killed."""
    limit = timeout if timeout is not None else p.settings.oneoff_timeout
    spec = oneoff_spec(p, app_name, release_id, command, kind=kind, name=name, timeout=limit)
    result = run_spec(p, spec, on_line)
    if result.timed_out or result.exit_code is None:
        raise OneOffTimedOut(
            f"the {kind} command `{command[:80]}` did not finish within {limit:.0f} s and "
            "was stopped"
        )
    return result.exit_code
