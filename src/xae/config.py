"""One settings object for the whole of xae.

Everything configurable is read here, once, from `XAE_*` environment variables (or a `.env`
file); the rest of the code receives a `Settings` and never reads the environment itself.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from xae.domain.registries import normalise_allow_list
from xae.errors import InvalidInput


def _default_state_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/xae")
    return Path.home() / ".local" / "share" / "xae"


def _default_build_cpus() -> float:
    return float(max(1, (os.cpu_count() or 1) - 1))


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
    tls_port: int = 8443
    """Where the router accepts HTTPS (and where `redirect_https` routes send plain HTTP)."""
    router_hold_timeout: int = 30
    """Seconds the router holds a request for a waking app (a `wake` route without instances)
    before answering with the 503 page."""
    router_hold_queue: int = 100
    """Requests the router holds per waking app; more get the 503 page at once."""

    base_domain: str = "localhost"
    """Apps are served at `<app>.<base_domain>`; `localhost` resolves without DNS."""

    nginx_bin: str = "/usr/sbin/nginx"

    acme_directory: str = ""
    """The ACME CA's directory URL for `xae certs:auto` (Let's Encrypt's is
    `https://acme-v02.api.letsencrypt.org/directory`); empty turns automatic certificates off."""
    acme_email: str = ""
    """The contact address given to the ACME CA (expiry warnings), optional."""
    acme_ca_bundle: str = ""
    """A CA file to trust for the ACME directory itself (a private CA); empty: the system's."""
    acme_renew_every: float = Field(default=43200.0, gt=0)
    """Seconds between checks for automatic certificates due for renewal."""

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

    reconcile_backoff: float = Field(default=2.0, gt=0)
    """Seconds the background reconciler waits before retrying an app whose pass failed; each
    further failure in a row doubles the wait (less up to a fifth, at random), up to the caps
    below. A change of the app (deploy, config, scale, `apps:update`) retries at once."""

    reconcile_backoff_max: float = Field(default=300.0, gt=0)
    """The longest wait after a temporary error (engine down, app crashed, health check)."""

    reconcile_backoff_permanent_max: float = Field(default=1800.0, gt=0)
    """The longest wait after a permanent error, one only a change of the app can fix (invalid
    stored input, a refused image)."""

    kubeconfig: Path | None = None
    """With `backend=kubernetes`: the cluster's kubeconfig (unset: `KUBECONFIG`, then
    `~/.kube/config`). `make k8s-up` writes one to /var/lib/xae/k8s/kubeconfig."""

    registry: str | None = None
    """A registry the cluster pulls app images from (`host:port`); builds are pushed there.
    Needed with `backend=kubernetes`; `make k8s-up` runs one on 127.0.0.1:5000."""

    router_cidrs: list[str] = ["10.88.0.1/32"]
    """Where the router's traffic comes from as pods see it: each app's NetworkPolicy admits
    only these. On the local cluster the host reaches pods from the bridge address."""

    app_blocked_cidrs: list[str] = [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "0.0.0.0/8",
        "224.0.0.0/3",
    ]
    """Where app instances may not open connections (DNS, port 53, excepted): private, shared,
    link-local (cloud metadata) and multicast ranges, i.e. the node and the host's bridges, the
    LAN, other pods. On docker the host itself is refused whatever its address (but the
    router's port); on Kubernetes this is each app's NetworkPolicy egress. Empty: no bound."""

    rollout_timeout: float = 180.0
    """How long a Kubernetes rollout may take (scheduling, image pull, probes) before the
    previous release is put back."""
    token_ttl_days: int = 30

    allowed_registries: Annotated[list[str], NoDecode] = []
    """Registries image deploys may pull from although they are inside the platform (on
    loopback, link-local, this machine's addresses or its container networks), as `host` or
    `host:port`, comma-separated or a JSON list. Everything else inside is refused, so that an
    image reference cannot send requests to the platform's own services. `registry` needs no
    entry for the apps' own builds pushed there."""

    @field_validator("allowed_registries", mode="before")
    @classmethod
    def _split_allowed_registries(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("give registries as `host[:port]`, comma-separated or a JSON list")
        try:
            return list(normalise_allow_list(value))
        except InvalidInput as e:
            raise ValueError(e.message) from e

    build_memory: str = "2G"
    """Memory each build step may use (`512M`, `2G`); builds get no swap on top."""

    build_cpus: float = Field(default_factory=_default_build_cpus)
    """CPUs a build may keep busy (a CFS quota); default the machine's CPUs minus one, at
    least 1, so a build never starves the router and the running apps."""

    build_pids: int = Field(default=512, ge=0)
    """Processes and threads one build may run at once (`pids.max` of a cgroup xae creates for
    it). Needs cgroup v1 with dockerd's cgroupfs driver; 0 turns the limit off where that is
    unavailable (builds then have no PIDs limit: say so in your threat model)."""

    build_timeout: float = Field(default=900.0, gt=0)
    """Seconds a whole build may take; then it is stopped and fails, and nothing is tagged."""

    build_blocked_cidrs: list[str] = [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "0.0.0.0/8",
        "127.0.0.0/8",
        "224.0.0.0/3",
    ]
    """Where build steps may not connect: private, shared, link-local (cloud metadata) and
    multicast ranges, i.e. other containers, app networks, the cluster's pods and the LAN.
    The host itself (router, API, anything listening on it) is always refused; the DNS
    servers (`build_dns_servers`) stay reachable on port 53. Add your LAN if it is public."""

    build_dns_servers: list[str] | None = None
    """The resolvers builds may query (port 53) even inside a blocked range; unset: the IPv4
    `nameserver`s of the host's /etc/resolv.conf, which Docker's embedded DNS forwards to."""

    build_registry_mirror: str | None = None
    """A registry (`host[:port][/path]`) that a Dockerfile's `FROM` of a Docker Hub image is
    pulled through: `FROM redis:7` builds from `<mirror>/library/redis:7`. Unset: such images
    come from the engine's local images (e.g. xae's own base images), else Docker Hub."""

    @field_validator("build_registry_mirror")
    @classmethod
    def _check_build_registry_mirror(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.fullmatch(r"[A-Za-z0-9.-]+(:\d{1,5})?(/[a-z0-9._-]+)*", value):
            raise ValueError("give the registry mirror as host[:port][/path], without a scheme")
        return value

    router_temp_dir: Path = Path("/var/cache/xae/router")
    """As root, the router's nginx workers run as `nobody` and cannot enter the private (0700)
    state dir; they buffer large request and response bodies in a subdirectory of this one
    (one per state dir, created and owned by root, its temp dirs owned by `nobody`). Unused
    when xae runs as another user: the temp dirs then stay in the router dir."""

    login_failures_per_account: int = Field(default=10, ge=1)
    login_failures_per_address: int = Field(default=50, ge=1)
    login_window_seconds: float = Field(default=900.0, gt=0)
    """Failed logins allowed per user name and per client address within the window; more
    are refused with 429 and `Retry-After` until the oldest failure leaves the window."""

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

    max_json_body: int = Field(default=64 * 1024, ge=1024)
    """The largest request body the API reads (JSON or form), in bytes; larger ones are
    refused with 413 before parsing. A deploy's upload has its own limit, `max_upload_bytes`."""

    api_rate: float = Field(default=50.0, ge=0)
    api_burst: int = Field(default=200, ge=1)
    """Requests per second each API token may make on average, and at once after being idle
    (requests without a token: per client address); more are refused with 429 and
    `Retry-After`. A rate of 0 turns the limit off."""

    image_cache_dir: Path = Path("/var/cache/xae/images")
    """Where `python -m xae.builder.images ensure` keeps what is slow to make again: each
    debootstrapped Debian root filesystem (`rootfs-<suite>.tar`) and each stack's build image
    (`<name>-<tag>.tar`, keyed by the hash of what it is made from). A machine whose Docker
    images were removed reloads them from here in seconds instead of minutes."""
    oneoff_timeout: float = Field(default=3600.0, gt=0)
    """Seconds a one-off run (a cron run, a manifest's postdeploy script) may take before it
    is killed and counted as failed."""
    release_timeout: float = Field(default=900.0, gt=0)
    """Seconds the release phase (`release:` in the Procfile) may take; past it the container
    is killed and the deploy fails, the old release serving."""
    cron: bool = True
    """Whether this control plane runs the apps' cron jobs (`xae.control.cron`)."""
    cron_tick: float = Field(default=5.0, gt=0)
    """Seconds between two looks of the cron scheduler for jobs whose time came."""
    cron_max_running: int = Field(default=8, ge=1)
    """Cron runs at once, platform-wide (a safety net above the per-app limit); a job due
    while as many run is skipped (recorded). On kubernetes the cluster runs them instead."""
    cron_output_bytes: int = Field(default=64 * 1024, ge=1024)
    """The output kept per cron run: its last lines within this many characters."""
    cron_runs_kept: int = Field(default=50, ge=1)
    """Runs kept per job in the history (`xae cron:runs`); older ones are deleted."""
    cron_jobs_per_app: int = Field(default=20, ge=1)
    """Most cron jobs one app may have."""
    cron_max_running_per_app: int = Field(default=2, ge=1)
    """Cron runs of one app at once: a job due while its app has as many going is skipped
    (recorded), so one app with many jobs never takes every slot of `cron_max_running`."""

    build_concurrency: int = Field(default=1, ge=1)
    """Builds that run at once on this control plane; more wait in the build queue (their
    deploys say so). Builds of one app always run one after the other, each after the previous
    deploy's rollout."""

    build_logs_kept: int = Field(default=20, ge=1)
    """Builds per app that keep their log; older builds keep their row (the history) but not
    their log, so build history cannot grow the store without bound."""

    hook_attempts: int = Field(default=5, ge=1, le=20)
    """Attempts to deliver one deploy notification (webhook) before giving up."""

    hook_backoff: float = Field(default=2.0, gt=0)
    """Seconds before a notification's second attempt; each later one waits twice as long."""

    hook_timeout: float = Field(default=10.0, gt=0)
    """Seconds one delivery attempt may take (connecting, sending, reading the answer)."""

    hook_allowed_cidrs: list[str] = []
    """Addresses webhooks may reach although they are inside the platform (loopback, private,
    link-local, this machine's own addresses): e.g. a LAN service that receives deploy
    notifications. Everything inside is refused otherwise, so a hook cannot make the platform
    send requests to its own API, the cloud metadata service or another tenant's add-on."""

    keep_release_images: int = Field(default=5, ge=1)
    """Garbage collection keeps the images of each app's newest this many released builds (the
    rollback targets), plus whatever is current, in a traffic split or still running; older app
    images are removed (`xae gc`, docs/gc.md)."""

    gc_interval: float = Field(default=3600.0, gt=0)
    """Seconds between the control plane's garbage collection passes (each successful deploy
    also collects its app's old images at once)."""

    gc_container_age: float = Field(default=600.0, ge=0)
    """A stopped container of this plane (a finished one-off, a leftover) is removed once it
    was created this many seconds ago: its logs stay readable for a while."""

    build_cache_max: int = Field(default=2 * 1024**3, ge=0)
    """Bytes the engine's build cache may keep; GC prunes the least recently used beyond it."""

    max_previews_per_app: int = Field(default=10, ge=1)
    """Preview apps one app may have at once (each runs a web instance): a push of one more
    branch is refused until a branch is deleted or a preview goes idle."""

    previews_reap_interval: float = Field(default=60.0, gt=0)
    """Seconds between checks for preview apps idle longer than their parent allows."""

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

    @property
    def repos_dir(self) -> Path:
        """Each app's bare git repository, `<app>.git` (`xae.codecenter.repos`)."""
        return self.state_dir / "repos"


@lru_cache
def get_settings() -> Settings:
    return Settings()
