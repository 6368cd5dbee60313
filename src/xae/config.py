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

    max_memory: str | None = None
    """The most memory one instance may get (`ps:resize --memory`); unset: the smaller of this
    machine's RAM and 8G. Never more than this machine's RAM."""

    max_cpus: float | None = None
    """The most CPUs one instance may get; unset (and never more than): this machine's CPUs."""

    max_instances_per_app: int = Field(default=100, ge=1)
    """How many instances of all its process types together one app may run."""

    max_config_keys: int = Field(default=256, ge=1)
    max_config_bytes: int = Field(default=128 * 1024, ge=1024)
    """An app's config vars: at most this many keys, and this many bytes of keys and values
    together (UTF-8). Every release keeps a copy, and all of it becomes the environment of
    every instance (Linux caps a process environment near 2 MiB, a Kubernetes Secret at 1 MiB)."""

    keep_failed_releases: int = Field(default=20, ge=1)
    """Failed releases beyond the newest this many of an app keep their row (the history) but
    not their copy of the config, so failing deploys cannot grow the store without bound."""

    tmp_size: str = "64M"
    """Each instance's `/tmp` is a tmpfs of this size (counted in its memory limit): writes
    past it fail with ENOSPC instead of filling the host's disk."""

    instance_disk: str = "1G"
    """On Kubernetes: each instance's `ephemeral-storage` limit (its writable layer and logs);
    the kubelet evicts an instance that writes more. Docker's overlay2 on ext4 cannot bound
    the writable layer (see docs/operations.md)."""

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
