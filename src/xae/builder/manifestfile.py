"""The app's manifest (`xae.yaml` or `app.json`) as the builder reads and applies it.

Reading goes through `xae.builder.sourcefiles` (never a link out of the tree) and parsing
through the pure `xae.domain.manifest_files`, before any build time is spent: a bad manifest fails
in milliseconds, like a bad Procfile.

Precedence, which `docs/manifest.md` documents: when `xae.yaml` declares `processes` (or
`web`), they are the app's process types and the Procfile is not used; otherwise the Procfile
(or the stack's default web) is. The manifest's `release` becomes the `release` process type,
replacing a Procfile's `release:` line.

The generic build command is the user's own code for their own image: it runs in the image
build, after the app's code is copied in, as the app user, through `RUN ["sh", "-c", COMMAND]`
with the command as one JSON string, never pasted into a shell string here.

What it must never do: read a file except through `sourcefiles`, log a value of the manifest
(config defaults may be secrets), or interpolate a command into a shell string.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from xae.builder import sourcefiles
from xae.builder.stacks import RUN_AS_APP
from xae.domain.manifest import APP_JSON, XAE_YAML_NAMES, Manifest, check_fits
from xae.domain.manifest_files import find_manifest
from xae.errors import InvalidManifest

Log = Callable[[str], None]

RELEASE = "release"
"""The process type of the release phase command."""


def read_manifest(src: Path, log: Log) -> Manifest | None:
    """The app's validated manifest, or None when it has none; warnings go to `log`.
    Raises InvalidManifest naming the key and the reason."""

    def read(name: str) -> bytes | None:
        return sourcefiles.read_bytes(src, name, error=InvalidManifest)

    parsed = find_manifest(read)
    if parsed is None:
        return None
    log(f"-----> {parsed.source}: {parsed.manifest.summary()}")
    for warning in parsed.warnings:
        log(f"       warning: {warning}")
    return parsed.manifest


def manifest_processes(manifest: Manifest | None) -> dict[str, str] | None:
    """The process types the manifest declares, or None when it declares none."""
    if manifest is None or not manifest.processes:
        return None
    return dict(manifest.processes)


def finish_plan(
    src: Path, manifest: Manifest, processes: dict[str, str], mode: str, log: Log
) -> dict[str, str]:
    """`processes` with the manifest's release command; InvalidManifest when the manifest
    does not fit the app (a formation for a type it has not, a build command for a Dockerfile)."""
    name = _source_name(src)
    if manifest.processes and sourcefiles.is_file(src, "Procfile"):
        log(f"       {name} declares the process types: the Procfile is not used")
    out = dict(processes)
    if manifest.release:
        if RELEASE in out:
            log(f"       the release command of {name} replaces the Procfile's release line")
        out[RELEASE] = manifest.release
    check_fits(manifest, out, name=name, dockerfile=mode == "dockerfile")
    return out


def with_build_command(text: str, command: str) -> str:
    """The stack Dockerfile `text` with `command` run at its end, as the app user, after the
    app's code is in /app. The command is one JSON string in an exec-form RUN: `sh` gets it
    as one argument, exactly as written; xae never builds a shell string from it."""
    lines = text.rstrip("\n").split("\n")
    if RUN_AS_APP not in lines:
        lines.append(RUN_AS_APP)
    lines.append("RUN " + json.dumps(["sh", "-c", command]))
    return "\n".join(lines) + "\n"


def _source_name(src: Path) -> str:
    for name in XAE_YAML_NAMES:
        if sourcefiles.is_file(src, name):
            return name
    return APP_JSON
