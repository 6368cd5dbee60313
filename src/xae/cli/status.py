"""`xae status`: is the platform itself healthy, and if not, what should the user do?

It exits 1 when any component is unhealthy, so scripts (and `make up`) can wait on it.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text

from xae.cli import output
from xae.cli.client import api
from xae.cli.errors import CLIError
from xae.cli.gc import size
from xae.cli.options import JsonOption


def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show the API, runtime backend, router and the health of each component."""
    data: Any = api(ctx).get("/v1/status")
    components: list[dict[str, Any]] = list(data.get("components") or [])
    unhealthy = [c for c in components if not c.get("healthy")]
    if as_json:
        output.print_json(data)
    else:
        router = data.get("router") or {}
        output.key_values(
            [
                ("api", data.get("api_url")),
                ("backend", data.get("backend")),
                ("router", router.get("address")),
                ("domain", router.get("base_domain")),
            ]
        )
        table = output.table("component", "healthy", "detail")
        for component in components:
            healthy = bool(component.get("healthy"))
            mark = Text("ok", style="green") if healthy else Text("FAIL", style="bold red")
            table.add_row(
                Text(str(component.get("name"))), mark, Text(output.text(component.get("detail")))
            )
        output.show(table)
        _local_ca(data.get("local_ca"))
        _disk(data.get("disk"))
    if unhealthy:
        console = output.err()
        for component in unhealthy:
            hint = component.get("hint")
            if hint:
                console.print(Text(f"{component.get('name')}: {hint}", style="yellow"))
        names = ", ".join(str(c.get("name")) for c in unhealthy)
        raise CLIError(f"unhealthy: {names}", code="unhealthy")


def _local_ca(ca: Any) -> None:
    """Where the local CA's certificate is and how to trust it."""
    if not isinstance(ca, dict):
        return
    output.plain(
        f"local CA: {output.text(ca.get('path'))} (sha256 {output.text(ca.get('fingerprint'))})"
    )
    for line in ca.get("trust") or []:
        output.plain(f"  trust it {line}")


def _disk(disk: Any) -> None:
    """Disk used by xae's images, builds, logs and git repositories (admins see it)."""
    if not isinstance(disk, dict):
        return
    parts = [
        f"{kind} {size(int(disk.get(kind) or 0))}"
        for kind in ("images", "builds", "logs", "repositories")
    ]
    output.plain("disk: " + ", ".join(parts) + " (`xae gc` reclaims)")
