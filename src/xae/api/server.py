"""Running the control plane: wire the platform, start the router and reconciler, serve the API.

Apps do not depend on this process: containers and the router (nginx) keep running when it is
killed, and a new one picks up where the last left off (see `Reconciler.warm_start`).
"""

from __future__ import annotations

import errno
import faulthandler
import functools
import logging
import signal
import socket
import threading

import uvicorn

from xae.api.app import create_app
from xae.api.statedir import restrict_umask, secure_state_dir
from xae.builder.reclaim import DockerReclaimer
from xae.codecenter.builds import build_service
from xae.config import Settings
from xae.control.acme import Renewer
from xae.control.certificates import push_certificates
from xae.control.cronscheduler import CronScheduler, runner_for
from xae.control.formation import wake_from_zero
from xae.control.gc import Housekeeper
from xae.control.health import Prober, probe_client
from xae.control.platform import Platform
from xae.control.previews import reap_idle
from xae.control.reconciler import Reconciler
from xae.control.recovery import fail_interrupted
from xae.docker_client import DockerConnection
from xae.errors import PortInUse, XaeError
from xae.router.nginx import NginxRouter
from xae.runtime.base import Orchestrator, Runtime
from xae.store.db import Database
from xae.store.sealed import Vault, key_file

log = logging.getLogger("xae.server")


def check_port_free(host: str, port: int, what: str, setting: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"port {port} on {host} (for the {what}) is already in use by another "
                    f"process: stop it, or choose another port with {setting}=<port>"
                ) from e
            raise


def make_backend(settings: Settings, docker: DockerConnection) -> Runtime | Orchestrator:
    """The configured backend, on the process's one client for it."""
    # Each backend's client library is imported only when that backend is chosen.
    if settings.backend == "docker":
        from xae.runtime.docker import DockerRuntime
        from xae.runtime.docker.hostwall import HostWall

        wall = HostWall.for_plane(
            settings.plane, [settings.router_port], blocked=settings.app_blocked_cidrs
        )
        return DockerRuntime(docker.client(), plane=settings.plane, wall=wall)
    if settings.backend == "kubernetes":
        if not settings.registry:
            raise XaeError(
                "the kubernetes backend needs a registry the cluster pulls images from: set "
                "XAE_REGISTRY=<host:port> (`make k8s-up` runs one on 127.0.0.1:5000)"
            )
        from xae.runtime.kubernetes import KubernetesOrchestrator, connect, where

        return KubernetesOrchestrator(
            connect(settings.kubeconfig),
            plane=settings.plane,
            router_cidrs=settings.router_cidrs,
            blocked_cidrs=settings.app_blocked_cidrs,
            rollout_timeout=settings.rollout_timeout,
            where=where(settings.kubeconfig),
        )
    raise XaeError(
        f"unknown backend {settings.backend!r}: set XAE_BACKEND=docker or XAE_BACKEND=kubernetes"
    )


def build_platform(settings: Settings) -> Platform:
    """The platform on the clients this process makes, once: the Docker engine (builds, and
    the docker backend), the backend's, and the health prober's HTTP client."""
    for notice in secure_state_dir(settings):
        log.warning("%s", notice)
    vault = Vault.at(key_file(settings.state_dir), create=True)
    db = Database(settings.db_url)
    db.migrate(vault)
    docker = DockerConnection(settings.docker_url)
    backend = make_backend(settings, docker)
    backend.ping()
    prober = Prober(probe_client())
    platform = Platform(
        settings, db, backend, NginxRouter(settings), prober=prober, docker=docker, vault=vault
    )
    # The local CA is made once, and its `*.<base domain>` leaf issued or renewed (< 30 days
    # left, or another base domain) at each start.
    if platform.local_ca.ensure():
        log.info("made the local CA: trust %s (`xae status` says how)", platform.local_ca.cert_path)
    platform.local_ca.wildcard_leaf()
    platform.reclaimer = DockerReclaimer(docker.client(), settings.plane, settings.registry)
    return platform


def wake_in_background(platform: Platform, app: str) -> None:
    """The router holds a request for `app`, which has no instance: start one (in its own
    thread: the start takes seconds, and other apps' wake calls must not wait for it)."""

    def wake() -> None:
        try:
            if wake_from_zero(platform, app):
                log.info("woke %s: a request is waiting for it", app)
        except Exception:
            log.exception("waking %s failed", app)

    threading.Thread(target=wake, name=f"wake-{app}", daemon=True).start()


def serve(settings: Settings) -> None:
    # A fatal signal or a hang leaves the threads' tracebacks in the log (SIGUSR1 on demand).
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One line per request otherwise: `httpx` (health probes) and `httpx2` (lightkube's).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    restrict_umask()
    check_port_free(settings.api_host, settings.api_port, "API", "XAE_API_PORT")
    platform = build_platform(settings)
    # Before anything serves: what the previous process left half done is failed, and the
    # reconciler's first pass removes its instances.
    fail_interrupted(platform.db)
    pruned = platform.backend.prune_oneoffs()
    if pruned:
        log.info("removed %d one-off run(s) the previous control plane left", pruned)
    reconciler = Reconciler(platform)
    reconciler.warm_start()
    log.info("starting the router")
    platform.router.start()
    push_certificates(platform)
    platform.on_certificates_changed = functools.partial(push_certificates, platform)
    platform.router.on_wake(functools.partial(wake_in_background, platform))
    log.info("starting the reconciler")
    reconciler.start()
    renewer = Renewer(platform)
    renewer.start()
    platform.cron_runner = runner_for(platform)
    scheduler = CronScheduler(platform, runner=platform.cron_runner)
    if settings.cron:
        log.info("starting the cron scheduler")
        scheduler.start()

    housekeeper = Housekeeper(platform, reap_idle)
    housekeeper.start()
    # Webhook deliveries the previous process left pending (failed, waiting to be retried).
    build_service(platform).notifier.resume()
    app = create_app(platform, reconciler)
    log.info("serving the API at %s", settings.api_url)
    try:
        uvicorn.run(
            app,
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
    finally:
        scheduler.stop()
        housekeeper.stop()
        renewer.stop()
        reconciler.stop()
        platform.prober.close()
        platform.docker.close()
