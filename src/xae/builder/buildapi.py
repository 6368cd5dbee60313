"""The classic builder's `POST /build`, sent by xae itself, and abortable.

docker-py's `APIClient.build` forwards only some of the engine's build options: not
`cgroupparent` (a build's PIDs limit lives in a cgroup xae creates, see `buildcgroup`) and not
`cpuperiod`/`cpuquota` (a CPU limit that allows fractions). This module sends the same request
with them through the client's own HTTP session and yields the engine's JSON progress messages.

`abort()` may be called from another thread (the build's deadline): it shuts the socket down,
which wakes the reader and makes the engine cancel the build; the classic builder then kills
and removes the container running the current step.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Mapping
from typing import IO, Any

import docker
import docker.errors
import docker.utils
from docker.utils.json_stream import json_stream

Params = Mapping[str, str | int | float | bool]


class BuildRequest:
    """One running `POST /build`: its progress messages, and a way to stop it."""

    def __init__(self, response: Any) -> None:
        self._response = response

    @classmethod
    def send(cls, api: Any, context: IO[bytes], params: Params, timeout: float) -> BuildRequest:
        """Start the build; raises docker.errors.APIError if the engine refuses it."""
        url = f"{api.base_url}/v{api.api_version}/build"
        response = api.post(
            url,
            params=dict(params),
            data=context,
            stream=True,
            timeout=timeout,
            headers={"Content-Type": "application/tar"},
        )
        if response.status_code >= 400:
            try:
                explanation = str(response.json().get("message", ""))
            except ValueError:
                explanation = response.text[:500]
            response.close()
            raise docker.errors.APIError(
                f"{response.status_code} Server Error",
                response=response,
                explanation=explanation,
            )
        return cls(response)

    def messages(self) -> Iterator[dict[str, Any]]:
        """The engine's progress messages (`stream`, `status`, `aux`, `error`) as they come."""
        for message in json_stream(self._response.iter_content(chunk_size=None)):
            if isinstance(message, dict):
                yield message

    def abort(self) -> None:
        """Stop the build from any thread: the engine sees the client go and cancels it."""
        connection = getattr(self._response.raw, "connection", None)
        sock = getattr(connection, "sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):  # already closed: there is nothing to stop
                sock.shutdown(socket.SHUT_RDWR)
        else:
            self.close()

    def close(self) -> None:
        self._response.close()
