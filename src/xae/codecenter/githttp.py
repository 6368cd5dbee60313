"""Git's smart HTTP, served by Debian's `git http-backend` (a CGI program) behind the API.

The API route authorizes the request, then `run_backend` spawns `git http-backend` with a CGI
environment built here from the request (never from a shell string), streams the request body
into it and its output back as it is produced, so a push's `remote:` lines reach the pusher
while the build runs. Only xae's own settings are in that environment (no API secret, no
user config): the repository root, the service, the caller's name and, for a push, the
channel to the API (`xae.codecenter.push`).

The CGI's standard error is logged here, never sent to the client. A body larger than the
limit stops the backend (the repository's `receive.maxInputSize` refuses a big pack first,
with git's own message).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("xae.codecenter.githttp")

SERVICES = ("git-upload-pack", "git-receive-pack")
_CHUNK = 1 << 16
_HOP_BY_HOP = frozenset({"connection", "transfer-encoding", "keep-alive", "status"})


class BadCGIHead(ValueError):
    """The backend's output did not start with CGI headers."""


@dataclass(frozen=True)
class CGIRequest:
    """What the backend is told about one request."""

    method: str
    path_info: str
    """`/<app>.git/info/refs`, `/<app>.git/git-receive-pack`, ..."""
    query: str
    content_type: str | None
    content_length: str | None
    content_encoding: str | None
    git_protocol: str | None
    remote_addr: str
    remote_user: str


def cgi_environ(
    request: CGIRequest, project_root: Path, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The backend's whole environment: CGI variables, git's, and `extra` (the push channel)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_PROJECT_ROOT": str(project_root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REQUEST_METHOD": request.method,
        "PATH_INFO": request.path_info,
        "QUERY_STRING": request.query,
        "REMOTE_ADDR": request.remote_addr,
        "REMOTE_USER": request.remote_user,
    }
    # The hook runs xae's own modules: a development tree's path reaches it too.
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    optional = {
        "CONTENT_TYPE": request.content_type,
        "CONTENT_LENGTH": request.content_length,
        "HTTP_CONTENT_ENCODING": request.content_encoding,
        "HTTP_GIT_PROTOCOL": request.git_protocol,
    }
    env |= {key: value for key, value in optional.items() if value}
    return env | dict(extra or {})


def parse_head(raw: bytes) -> tuple[int, list[tuple[str, str]]]:
    """The status and headers of a CGI response's head (the bytes before the blank line)."""
    status = 200
    headers: list[tuple[str, str]] = []
    for line in raw.decode("latin-1").splitlines():
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep or not key or key != key.strip():
            raise BadCGIHead(f"not a CGI header line: {line[:80]!r}")
        value = value.strip()
        if key.lower() == "status":
            code = value.split(" ", 1)[0]
            if not (code.isdigit() and 100 <= int(code) <= 599):
                raise BadCGIHead(f"not a CGI status: {value[:40]!r}")
            status = int(code)
        elif key.lower() not in _HOP_BY_HOP:
            headers.append((key, value))
    return status, headers


async def _read_head(stdout: asyncio.StreamReader) -> bytes:
    """The head `git http-backend` writes (CRLF lines, then an empty one)."""
    try:
        return await stdout.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        raise BadCGIHead("the backend ended before its headers") from e
    except asyncio.LimitOverrunError as e:
        raise BadCGIHead("the CGI head is too long") from e


@dataclass
class BackendResponse:
    status: int
    headers: list[tuple[str, str]]
    body: AsyncIterator[bytes]


async def run_backend(
    env: Mapping[str, str],
    body: AsyncIterator[bytes],
    limit: int,
    cleanup: Callable[[], None],
) -> BackendResponse:
    """Start `git http-backend`, feed it `body` (at most `limit` bytes) and return its status,
    headers and output stream. `cleanup` runs once the backend has exited (or failed to)."""
    process = await asyncio.create_subprocess_exec(
        "git",
        "http-backend",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
        start_new_session=True,  # its own process group: `_stop` ends the backend's children
    )
    assert process.stdin and process.stdout and process.stderr
    feeder = asyncio.create_task(_feed(process, process.stdin, body, limit))
    errors = asyncio.create_task(_log_errors(process.stderr))

    async def finish() -> None:
        feeder.cancel()
        _stop(process)
        await process.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await errors
        cleanup()

    try:
        head = await _read_head(process.stdout)
        status, headers = parse_head(head)
    except BaseException:
        await finish()
        raise

    async def stream() -> AsyncIterator[bytes]:
        assert process.stdout
        try:
            while chunk := await process.stdout.read(_CHUNK):
                yield chunk
            await process.wait()
        finally:
            await finish()

    return BackendResponse(status, headers, stream())


def _stop(process: asyncio.subprocess.Process) -> None:
    """Kill the backend and what it started (`git` runs `git-http-backend`, which runs
    `receive-pack` and its hook), unless it has ended."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


async def _feed(
    process: asyncio.subprocess.Process,
    stdin: asyncio.StreamWriter,
    body: AsyncIterator[bytes],
    limit: int,
) -> None:
    size = 0
    try:
        async for chunk in body:
            size += len(chunk)
            if size > limit:
                log.warning("a git request body passed %d bytes: the backend is stopped", limit)
                _stop(process)
                return
            stdin.write(chunk)
            await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        return  # the backend stopped reading: its answer says why
    finally:
        with contextlib.suppress(OSError):
            stdin.close()


async def _log_errors(stderr: asyncio.StreamReader) -> None:
    shown = 0
    while line := await stderr.readline():
        if shown < 20:
            log.info("git http-backend: %s", line.decode(errors="replace").rstrip()[:300])
            shown += 1
