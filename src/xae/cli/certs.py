"""`xae certs`, `certs:add`, `certs:auto`, `certs:remove`, `certs:ca`: an app's TLS
certificates and the local CA.

`certs:add` reads the chain (leaf first) and the key from files and uploads them; the server
checks them (`xae.domain.certs`) and never sends the key back. Files over the API's limits are
refused here, before anything is sent. `certs:ca` prints the local CA's certificate, for
`curl --cacert` or a system trust store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from xae.cli import output
from xae.cli.client import api
from xae.cli.errors import CLIError, usage_error
from xae.cli.options import AppOption, JsonOption, require_app

MAX_CHAIN = 48 * 1024
MAX_KEY = 12 * 1024
"""As the API takes them: chain and key together fit in its 64 KiB request limit."""


def _read(path: Path, what: str, limit: int) -> str:
    try:
        size = path.stat().st_size
    except OSError as e:
        raise usage_error(f"cannot read the {what} file {path}: {e.strerror}") from e
    if size > limit:
        raise usage_error(
            f"the {what} file {path} is {size} bytes; xae takes at most {limit // 1024} KiB "
            "(chain and key must fit in the API's 64 KiB request limit): leave out the root "
            "certificate"
        )
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise usage_error(f"the {what} file {path} is not PEM text") from e


def _expiry(days: Any) -> Text:
    if not isinstance(days, int):
        return Text("?")
    if days < 0:
        return Text("expired", style="bold red")
    style = "red" if days < 14 else "yellow" if days < 30 else "green"
    return Text(f"{days} days", style=style)


def list_certs(ctx: typer.Context, app: AppOption = None, as_json: JsonOption = False) -> None:
    """List the app's certificates: names, expiry, issuer (never keys)."""
    target = require_app(app)
    certs: list[dict[str, Any]] = api(ctx).get(f"/v1/apps/{target}/certs")
    if as_json:
        output.print_json(certs)
        return
    if not certs:
        output.plain(
            f"{target} has no certificates of its own (the local CA's serves it): upload one "
            f"with `xae certs:add --app {target} --cert FILE --key FILE`"
        )
        return
    table = output.table("id", "names", "expires in", "not after", "issuer")
    for cert in certs:
        table.add_row(
            Text(output.text(cert.get("id"))),
            Text(", ".join(str(n) for n in cert.get("names") or [])),
            _expiry(cert.get("days_left")),
            Text(output.when(cert.get("not_after"))),
            Text(output.text(cert.get("issuer"))),
        )
    output.show(table)


def add(
    ctx: typer.Context,
    cert: Annotated[
        Path,
        typer.Option("--cert", help="PEM: the leaf first, then intermediates.", show_default=False),
    ],
    key: Annotated[Path, typer.Option("--key", help="PEM, unencrypted.", show_default=False)],
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload a certificate and its key (checked by the server); one with the same names as an
    existing certificate replaces it."""
    target = require_app(app)
    body = {"chain": _read(cert, "certificate", MAX_CHAIN), "key": _read(key, "key", MAX_KEY)}
    added: dict[str, Any] = api(ctx).post(f"/v1/apps/{target}/certs", body)
    if as_json:
        output.print_json(added)
        return
    info = added.get("certificate") or {}
    names = ", ".join(str(n) for n in info.get("names") or [])
    replaced = added.get("replaced")
    output.success(
        f"added certificate {info.get('id')} for {names} to {target}, expires "
        f"{output.when(info.get('not_after'))} (in {info.get('days_left')} days)"
        + (f"; it replaces certificate {replaced}" if replaced else "")
    )
    for warning in added.get("warnings") or []:
        output.plain(f"warning: {warning}", style="yellow")


def auto(ctx: typer.Context, app: AppOption = None, as_json: JsonOption = False) -> None:
    """Get a certificate for the app's custom domains from the platform's ACME CA (e.g. Let's
    Encrypt); each domain must already point at this router. xae renews it before it expires."""
    target = require_app(app)
    output.plain(f"asking the ACME CA to check {target}'s domains over HTTP (up to 90 s)...")
    added: dict[str, Any] = api(ctx).post(f"/v1/apps/{target}/certs/auto", {}, timeout=150)
    if as_json:
        output.print_json(added)
        return
    info = added.get("certificate") or {}
    names = ", ".join(str(n) for n in info.get("names") or [])
    output.success(
        f"issued certificate {info.get('id')} for {names} by {info.get('issuer')}, expires "
        f"{output.when(info.get('not_after'))}; xae renews it 30 days before"
    )


def remove(
    ctx: typer.Context,
    cert_id: Annotated[int, typer.Argument(metavar="ID", help="From `xae certs`.", min=1)],
    app: AppOption = None,
) -> None:
    """Remove a certificate: its names fall back to the local CA's."""
    target = require_app(app)
    api(ctx).delete(f"/v1/apps/{target}/certs/{cert_id}")
    output.success(f"removed certificate {cert_id} from {target}")


def ca(ctx: typer.Context) -> None:
    """Print the local CA's certificate (PEM), e.g. `xae certs:ca > xae-ca.crt`."""
    info: dict[str, Any] = api(ctx).get("/v1/tls/ca")
    pem = info.get("pem")
    if not isinstance(pem, str) or "BEGIN CERTIFICATE" not in pem:
        raise CLIError("the server sent no CA certificate", code="invalid_response")
    output.raw_line(pem.rstrip("\n"))
