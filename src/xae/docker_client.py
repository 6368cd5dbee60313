"""The one connection to the Docker engine a process makes, built where the process starts.

The control plane talks to Docker for two things: the docker runtime (instances, networks,
images) and the Code Center's builds (on either backend: images are built locally and pushed
to the cluster's registry). Both use the one client made here, so the timeout and the engine
address are decided once; nothing else builds a `docker.DockerClient`.

The connection is made on first use, not at construction: a control plane on the kubernetes
backend starts (and deploys ready-made images) without a Docker engine, as it always did.
"""

from __future__ import annotations

import threading

import docker
import docker.errors

from xae.errors import RuntimeUnavailable

TIMEOUT = 600
"""Seconds one request to the engine may stay silent. A build's or a push's progress stream
can pause for minutes (a long compile, a big layer); the runtime's own calls answer at once,
so they reach it only when dockerd hangs."""


class DockerConnection:
    """A lazily connected, shared `docker.DockerClient` for `base_url` (None: the environment's
    `DOCKER_HOST` or the local socket)."""

    def __init__(self, base_url: str | None = None, timeout: int = TIMEOUT) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()

    def client(self) -> docker.DockerClient:
        """The client, connecting on the first call; raises `RuntimeUnavailable` saying what
        to do when the engine cannot be reached."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    @property
    def connected(self) -> bool:
        """Whether a client was made (an image deploy on kubernetes never needs one)."""
        return self._client is not None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _connect(self) -> docker.DockerClient:
        try:
            if self.base_url:
                return docker.DockerClient(
                    base_url=self.base_url, version="auto", timeout=self.timeout
                )
            return docker.from_env(version="auto", timeout=self.timeout)
        except docker.errors.DockerException as e:
            raise RuntimeUnavailable(
                f"cannot reach the Docker engine ({str(e)[:200]}): is dockerd running? "
                "`make up` starts it"
            ) from e
