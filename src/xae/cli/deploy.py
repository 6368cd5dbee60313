"""`xae deploy`: pack a directory, upload it, and show the build as it happens.

The tarball is spooled to a temporary file (not held in memory: sources can be large) and
streamed to the API with its length, so the server can refuse an oversized upload at once.
The answer is NDJSON, one event per line (`step`, `log`, `done`, `error`), printed as it
arrives so a user watches their build rather than a frozen terminal.

`xae deploy --image REF` releases a ready-made image instead: no upload and no build, the same
event stream. The reference, port and command are checked by the API (one gate, server-side).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.text import Text

from xae.cli import output, tarball
from xae.cli.client import api
from xae.cli.errors import CLIError, usage_error
from xae.cli.options import AppOption, require_app
from xae.domain.terminal import strip_escapes

CHUNK = 256 * 1024
_REMEMBERED = 2000
"""Log lines kept to recognise them when an error quotes them again."""
_SPOOL_IN_MEMORY = 8 * 1024 * 1024


def _chunks(fileobj: IO[bytes]) -> Iterator[bytes]:
    fileobj.seek(0)
    while chunk := fileobj.read(CHUNK):
        yield chunk


def deploy(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="The source directory to deploy (default: the current directory).",
            show_default=False,
        ),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            help="Release this ready-made image (e.g. nginx:1.27) instead of building a directory.",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", help="With --image: the port its web process listens on (default 5000)."
        ),
    ] = None,
    command: Annotated[
        str | None,
        typer.Option(
            "--command", help="With --image: the web command (default: the image's own CMD)."
        ),
    ] = None,
    app: AppOption = None,
) -> None:
    """Upload a directory, build it, and release it; or release an image with --image."""
    target = require_app(app)
    if image is None:
        if port is not None or command is not None:
            raise usage_error(
                "--port and --command go with --image; a source deploy takes them from the "
                "build (Procfile, EXPOSE)"
            )
        _deploy_source(ctx, target, directory or Path("."))
        return
    if directory is not None:
        raise usage_error(
            f"give either a directory or --image, not both: run `xae deploy {directory} "
            f"--app {target}` to build it, or drop {directory} to release {image}"
        )
    _deploy_image(ctx, target, image, port, command)


def _deploy_source(ctx: typer.Context, target: str, directory: Path) -> None:
    root = directory.resolve()
    if not root.is_dir():
        raise usage_error(f"{directory} is not a directory")
    entries = tarball.collect(root)
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
        packed = tarball.pack(root, spool, entries)
        if packed.files == 0:
            raise usage_error(f"nothing to deploy: {directory} is empty or entirely ignored")
        output.plain(
            f"uploading {packed.files} file{'' if packed.files == 1 else 's'}, "
            f"{packed.size / 1024 / 1024:.1f} MB",
            style="bold",
        )
        headers = {
            "Content-Type": "application/gzip",
            "Content-Length": str(packed.size),
            "Accept": "application/x-ndjson",
        }
        with api(ctx).stream(
            "POST", f"/v1/apps/{target}/deploys", content=_chunks(spool), headers=headers
        ) as response:
            follow_events(response.iter_lines(), target)


def _deploy_image(
    ctx: typer.Context, target: str, image: str, port: int | None, command: str | None
) -> None:
    body: dict[str, Any] = {"image": image}
    if port is not None:
        body["port"] = port
    if command is not None:
        body["command"] = command
    payload = json.dumps(body).encode()
    output.plain(f"deploying image {image}", style="bold")
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(payload)),
        "Accept": "application/x-ndjson",
    }
    with api(ctx).stream(
        "POST", f"/v1/apps/{target}/deploys/image", content=[payload], headers=headers
    ) as response:
        follow_events(response.iter_lines(), target)


def follow_events(lines: Iterator[str], app: str) -> None:
    """Print deploy events as they arrive; raise `CLIError` on an `error` event."""
    console = output.out()
    shown: list[str] = []
    with console.status("building…", spinner="dots") as spinner:
        for raw in lines:
            if not raw.strip():
                continue
            event = _decode(raw)
            kind = event.get("event")
            if kind == "step":
                console.print(
                    Text(f"-----> {event.get('message', '')}", style="bold"), soft_wrap=True
                )
                spinner.update(str(event.get("message", "building…")))
            elif kind == "log":
                line = strip_escapes(str(event.get("line", "")).rstrip("\n"))
                shown.append(line)
                del shown[:-_REMEMBERED]
                console.print(Text(f"       {line}"), soft_wrap=True)
            elif kind == "done":
                text, style = done_message(event, app)
                console.print(Text(text, style=style), soft_wrap=True)
                return
            elif kind == "error":
                raise _error(event, shown)
            # Unknown events are from a newer server; skipping them keeps old CLIs working.
    raise CLIError(
        "the deploy stream ended without a result; check `xae releases` and `xae logs`",
        code="stream_ended",
    )


def done_message(event: dict[str, Any], app: str) -> tuple[str, str]:
    """What a finished deploy says, and its style: "serving at URL" only when a web process
    runs; otherwise what runs and the command that changes it."""
    release = event.get("release") or {}
    deployed = f"deployed {output.version(release.get('version'))}"
    url = event.get("url")
    processes = event.get("processes")
    if not isinstance(processes, dict):  # a server from before `processes`: it cannot tell
        return f"{deployed}, serving at {url}", "bold green"
    web = processes.get("web")
    if isinstance(web, int) and web > 0:
        return f"{deployed}, serving at {url}", "bold green"
    if "web" in processes:
        return (
            f"{deployed}; its web process is scaled to 0, so nothing answers at {url}: "
            f"run `xae ps:scale web=1 --app {app}` to serve it",
            "bold yellow",
        )
    running = ", ".join(f"{ptype}={n}" for ptype, n in sorted(processes.items())) or "none"
    idle = sorted(ptype for ptype, n in processes.items() if not n)
    text = (
        f"{deployed}; it has no web process, so nothing is served at {url} (add a `web:` "
        f"line to its Procfile to serve HTTP). Processes: {running}"
    )
    if idle:
        text += f"; start one with `xae ps:scale {idle[0]}=1 --app {app}`"
    return text, "bold yellow"


def _error(event: dict[str, Any], shown: list[str]) -> CLIError:
    """The `error` event as a `CLIError`, without repeating log lines already on screen."""
    error = event.get("error") or {}
    details = error.get("details")
    details = dict(details) if isinstance(details, dict) else {}
    message = str(error.get("message") or "deploy failed")
    seen = set(shown)
    tail = output.log_tail(details)
    if tail and all(strip_escapes(line) in seen for line in tail):
        details.pop("log_tail", None)
    first, *rest = message.split("\n")
    if rest and all(strip_escapes(line) in seen for line in rest if line.strip()):
        # The message quotes the build log the user just watched: say where it is instead.
        message = first.rstrip(":").rstrip() + " (shown above)"
    return CLIError(message, code=str(error.get("code") or "deploy_failed"), details=details)


def _decode(raw: str) -> dict[str, Any]:
    try:
        event = json.loads(raw)
    except ValueError as e:
        raise CLIError(
            f"the API sent a deploy event that is not JSON: {raw[:200]!r}", code="bad_response"
        ) from e
    if not isinstance(event, dict):
        raise CLIError("the API sent a deploy event that is not an object", code="bad_response")
    return event
