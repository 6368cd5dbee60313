"""`xae routes` and `routes:split`: where an app's traffic goes, and splitting it by weight
between releases (a canary: `xae routes:split --app APP v7=90 v8=10`).

The shares are checked locally with the same rules the API applies (`xae.domain.splits`), so a
typo or weights that do not add up fail before any request. What only the platform knows (the
release exists, succeeded, can start) is checked by the API, which changes nothing then.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from xae.cli import output
from xae.cli.client import api
from xae.cli.errors import usage_error
from xae.cli.options import AppOption, JsonOption, require_app
from xae.domain.splits import Share, parse_share, validate_shares

SPLIT_TIMEOUT = 300.0
"""The API answers once the releases' instances pass their health checks: a rollout's wait."""

SharesArgument = Annotated[
    list[str] | None,
    typer.Argument(metavar="vN=PERCENT...", help="e.g. v7=90 v8=10 (2 to 5, adding up to 100)."),
]


def _shares(items: list[str]) -> list[Share]:
    try:
        return validate_shares([parse_share(item) for item in items])
    except Exception as e:  # `xae.domain.splits` raises only `InvalidInput`
        raise usage_error(str(e)) from e


def routes(ctx: typer.Context, app: AppOption = None, as_json: JsonOption = False) -> None:
    """Show the app's host names, how its traffic is split between releases, its settings."""
    target = require_app(app)
    info: dict[str, Any] = api(ctx).get(f"/v1/apps/{target}/routes")
    if as_json:
        output.print_json(info)
        return
    _show(target, info)


def _show(target: str, info: dict[str, Any]) -> None:
    releases: list[dict[str, Any]] = info.get("releases") or []
    if not releases:
        output.plain(f"{target} has no release yet: deploy it first")
    else:
        title = "traffic split" + (" (sticky)" if info.get("sticky") else "")
        table = output.table("release", "weight", "instances", title=title)
        for r in releases:
            current = " (current)" if r.get("version") == info.get("current_release") else ""
            table.add_row(
                f"{output.version(r.get('version'))}{current}",
                f"{output.text(r.get('weight'))}%",
                output.text(r.get("instances")),
            )
        output.show(table)
    output.key_values(
        [
            ("hosts", ", ".join(output.text(h) for h in info.get("hosts") or [])),
            ("redirect https", info.get("redirect_https")),
            ("max body", info.get("max_body") or "default"),
            ("read timeout", info.get("read_timeout") or "default"),
            ("scale from zero", info.get("scale_from_zero")),
        ]
    )


def split(
    ctx: typer.Context,
    shares: SharesArgument = None,
    app: AppOption = None,
    sticky: Annotated[
        bool, typer.Option("--sticky", help="Keep each client on its first release (a cookie).")
    ] = False,
    clear: Annotated[
        bool, typer.Option("--clear", help="End the split: every request to the current release.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Split the app's traffic between releases by weight, or end the split (--clear)."""
    target = require_app(app)
    client = api(ctx)
    if clear:
        if shares:
            raise usage_error("give either releases and weights or --clear, not both")
        client.delete(f"/v1/apps/{target}/split")
        output.success(f"{target}'s split ended: every request goes to its current release")
        return
    chosen = _shares(shares or [])
    body = {
        "releases": [{"version": s.version, "weight": s.weight} for s in chosen],
        "sticky": sticky,
    }
    info: dict[str, Any] = client.request(
        "PUT", f"/v1/apps/{target}/split", json_body=body, timeout=SPLIT_TIMEOUT
    )
    if as_json:
        output.print_json(info)
        return
    shown = " ".join(f"{s.label}={s.weight}%" for s in chosen)
    output.success(f"{target}'s traffic is split: {shown}" + (" (sticky)" if sticky else ""))
    _show(target, info)
