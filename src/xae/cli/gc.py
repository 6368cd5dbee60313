"""`xae gc`: reclaim disk now (old app images, leftovers, idle previews), or see what would go.

Without `--app` it is the platform's pass (platform admins); with `--app APP` only that app's
images beyond the releases it keeps for rollback (the app's team, deploy level). `--dry-run`
lists the same and removes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from xae.cli import output
from xae.cli.client import api
from xae.cli.options import AppOption, JsonOption, app_name

GC_TIMEOUT = 600.0
"""A first pass on a busy engine removes many images: it may take minutes."""

DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
]


def gc(
    ctx: typer.Context,
    app: AppOption = None,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
) -> None:
    """Remove old app images, dangling layers, stopped containers, old build dirs, idle previews."""
    path = f"/v1/apps/{app_name(app)}/gc" if app else "/v1/gc"
    report: dict[str, Any] = api(ctx).post(
        path, params={"dry_run": "true" if dry_run else "false"}, timeout=GC_TIMEOUT
    )
    if as_json:
        output.print_json(report)
        return
    verb = "would remove" if dry_run else "removed"
    images: list[str] = list(report.get("images") or [])
    rows = [
        ("images", len(images)),
        ("registry tags", len(report.get("registry_tags") or [])),
        ("dangling images", report.get("dangling_images")),
        ("stopped containers", len(report.get("containers") or [])),
        ("build dirs", len(report.get("build_dirs") or [])),
        ("build cache entries", report.get("build_cache_entries")),
        ("idle previews", len(report.get("previews") or [])),
    ]
    output.plain(f"{'dry run: ' if dry_run else ''}{verb}:")
    output.key_values(rows)
    for ref in images:
        output.plain(f"  {output.text(ref)}")
    for name in report.get("previews") or []:
        output.plain(f"  preview {output.text(name)}")
    freed = report.get("estimated_bytes") or 0
    if freed:
        output.plain(f"app images' own layers: {_size(int(freed))}")
    for error in report.get("errors") or []:
        output.err().print(f"not removed: {output.text(error)}", style="yellow")


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


size = _size
"""Bytes as `1.2 GB` (shared with `xae status`)."""
