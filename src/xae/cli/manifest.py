"""`xae manifest:check [DIR]`: validate an app's `xae.yaml` (or `app.json`) before deploying.

It runs the same pure validation the build runs (`xae.domain.manifest_files` and
`xae.domain.manifest`) on the local files, so no server is needed and the errors read exactly
as a deploy would print them. It cannot
know what the server's ceilings are (memory, CPUs, instances): those are checked at deploy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from xae.cli import output
from xae.cli.errors import CLIError
from xae.cli.options import JsonOption
from xae.domain.manifest import APP_JSON, MAX_MANIFEST_BYTES, XAE_YAML_NAMES, check_fits
from xae.domain.manifest_files import find_manifest
from xae.domain.procfile import parse_procfile
from xae.errors import InvalidInput


def _read_in(directory: Path) -> Callable[[str], bytes | None]:
    def read(name: str) -> bytes | None:
        path = directory / name
        if not path.is_file():
            return None
        with path.open("rb") as file:
            # One byte more than the limit, so the validation reports the size itself.
            return file.read(MAX_MANIFEST_BYTES + 1)

    return read


def check(
    directory: Annotated[
        Path, typer.Argument(help="The app's source directory.", show_default=True)
    ] = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Validate the app's xae.yaml (or app.json) as a deploy would, without deploying."""
    if not directory.is_dir():
        raise CLIError(f"{directory} is not a directory", code="usage", exit_code=2)
    try:
        parsed = find_manifest(_read_in(directory))
        if parsed is None:
            raise CLIError(
                f"{directory} has no manifest: xae reads {', '.join(XAE_YAML_NAMES)} or "
                f"{APP_JSON} (see docs/manifest.md)",
                code="no_manifest",
            )
        procfile = directory / "Procfile"
        processes = dict(parsed.manifest.processes or {})
        if not processes:
            processes = (
                parse_procfile(procfile.read_text(encoding="utf-8", errors="replace"))
                if procfile.is_file()
                else {"web": ""}
            )
        if parsed.manifest.release:
            processes["release"] = parsed.manifest.release
        check_fits(
            parsed.manifest,
            processes,
            name=parsed.source,
            dockerfile=(directory / "Dockerfile").is_file(),
        )
    except InvalidInput as e:
        raise CLIError(e.message, code=e.code) from e
    if as_json:
        output.print_json(
            {
                "source": parsed.source,
                "manifest": parsed.manifest.model_dump(mode="json", exclude_none=True),
                "warnings": parsed.warnings,
            }
        )
        return
    for warning in parsed.warnings:
        output.plain(f"warning: {warning}", style="yellow")
    output.success(f"{parsed.source} is valid: {parsed.manifest.summary()}")
