"""One settings object for the whole of xae.

Everything configurable is read here, once, from `XAE_*` environment variables (or a `.env`
file); the rest of the code receives a `Settings` and never reads the environment itself.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_state_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/xae")
    return Path.home() / ".local" / "share" / "xae"


class Settings(BaseSettings):
    """xae's settings; each field is `XAE_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="XAE_", env_file=".env", extra="ignore")

    state_dir: Path = Field(default_factory=_default_state_dir)
    """Where xae keeps its database, uploaded sources, router config and logs."""

    plane: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9-]{0,19}$")
    """Names this installation; containers, networks and images carry it, so two xae control
    planes on one Docker engine (e.g. the test suite's and yours) never touch each other's."""

    backend: str = "docker"
    """The app runtime: `docker` (this machine) or `kubernetes`."""

    api_host: str = "127.0.0.1"
    api_port: int = 5050
    """Where the REST API listens. The CLI finds it through its own config file."""

    router_host: str = "0.0.0.0"
    router_port: int = 8080
    """Where the router (nginx) accepts app traffic."""

    base_domain: str = "localhost"
    """Apps are served at `<app>.<base_domain>`; `localhost` resolves without DNS."""

    nginx_bin: str = "/usr/sbin/nginx"

    docker_url: str | None = None
    """The Docker engine to talk to; unset means the usual `DOCKER_HOST` / local socket."""

    ca_bundle: Path = Path("/etc/ssl/certs/ca-certificates.crt")
    """The CA bundle builds and base images trust, so package installs work behind a
    TLS-intercepting proxy. Changing it needs `make up` to rebuild the base image."""

    max_upload_bytes: int = 1024**3
    max_upload_entries: int = 100_000

    default_memory: str = "512M"
    default_cpus: float = 1.0
    pids_limit: int = 256

    health_path: str = "/"
    health_timeout: float = 2.0
    health_attempts: int = 120
    health_interval: float = 0.25
    """Defaults for an app's health check; each app can override path, timeout and attempts."""

    drain_seconds: float = 10.0
    """How long a stopped instance gets after SIGTERM before SIGKILL."""

    reconcile_interval: float = 2.0

    reconcile_workers: int = 4
    """Apps reconciled at once. Each app's pass is its own task, so one app never waits for
    another's; an app has at most one pass queued or running."""

    reconcile_max_workers: int = 32
    """The most reconcile threads, counting passes past their deadline (a hanging health check
    holds its thread until the check gives up)."""

    reconcile_app_deadline: float = 5.0
    """Seconds an app's pass may run before it stops holding one of `reconcile_workers` (another
    worker starts for the other apps) and `xae status` lists it as slow."""

    kubeconfig: Path | None = None
    """With `backend=kubernetes`: the cluster's kubeconfig (unset: `KUBECONFIG`, then
    `~/.kube/config`). `make k8s-up` writes one to /var/lib/xae/k8s/kubeconfig."""

    registry: str | None = None
    """A registry the cluster pulls app images from (`host:port`); builds are pushed there.
    Needed with `backend=kubernetes`; `make k8s-up` runs one on 127.0.0.1:5000."""

    router_cidrs: list[str] = ["10.88.0.1/32"]
    """Where the router's traffic comes from as pods see it: each app's NetworkPolicy admits
    only these. On the local cluster the host reaches pods from the bridge address."""

    rollout_timeout: float = 180.0
    """How long a Kubernetes rollout may take (scheduling, image pull, probes) before the
    previous release is put back."""
    token_ttl_days: int = 30

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.state_dir / 'xae.db'}"

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def router_dir(self) -> Path:
        return self.state_dir / "router"

    @property
    def builds_dir(self) -> Path:
        return self.state_dir / "builds"


@lru_cache
def get_settings() -> Settings:
    return Settings()
