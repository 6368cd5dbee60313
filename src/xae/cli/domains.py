"""`xae domains`, `domains:add`, `domains:remove`: the custom domains an app is served at.

A name is checked and made canonical locally with xae's gate for domains
(`xae.domain.names.validate_domain`), so a typo fails before any request and the URL path of a
removal carries only a canonical name. The API checks again, and also what the CLI cannot
know: the platform's base domain and names other apps hold.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from xae.cli import output
from xae.cli.client import api
from xae.cli.options import AppOption, JsonOption, checked, require_app
from xae.domain import names

NameArgument = Annotated[
    str,
    typer.Argument(
        metavar="NAME", help="e.g. www.example.com, or *.example.com for every name under it."
    ),
]


def domain_name(text: str) -> str:
    return checked(names.validate_domain, text)


def list_domains(ctx: typer.Context, app: AppOption = None, as_json: JsonOption = False) -> None:
    """List the app's custom domains."""
    target = require_app(app)
    domains: list[dict[str, Any]] = api(ctx).get(f"/v1/apps/{target}/domains")
    if as_json:
        output.print_json(domains)
        return
    if not domains:
        output.plain(
            f"{target} has no custom domains: add one with `xae domains:add NAME --app {target}`"
        )
        return
    table = output.table("domain", "added by", "added")
    for domain in domains:
        table.add_row(
            output.text(domain.get("hostname")),
            output.text(domain.get("created_by")),
            output.when(domain.get("created_at")),
        )
    output.show(table)


def add(
    ctx: typer.Context, name: NameArgument, app: AppOption = None, as_json: JsonOption = False
) -> None:
    """Serve the app at a domain of yours too (point the name's DNS at the router)."""
    target = require_app(app)
    added: dict[str, Any] = api(ctx).post(
        f"/v1/apps/{target}/domains", {"hostname": domain_name(name)}
    )
    if as_json:
        output.print_json(added)
        return
    output.success(f"{target} is now served at {added.get('hostname')}")
    output.plain("point the name's DNS (an A/AAAA or CNAME record) at this platform's router")


def remove(ctx: typer.Context, name: NameArgument, app: AppOption = None) -> None:
    """Stop serving the app at a custom domain."""
    target = require_app(app)
    hostname = domain_name(name)
    api(ctx).delete(f"/v1/apps/{target}/domains/{hostname}")
    output.success(f"{target} is no longer served at {hostname}")
