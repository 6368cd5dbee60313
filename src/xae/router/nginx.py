"""`NginxRouter`: the App Router as a host nginx that xae starts, reconfigures and stops.

Why nginx, and why this way (docs/router.md): nginx proxying to container addresses with
upstream keepalive keeps ~0.7-0.8x of a direct hit, where a Python proxy keeps 0.15x. The
routes are not in nginx's config: a Lua module (`lua/xae_router.lua`) keeps them in a shared
dict and picks the peer per request, and xae changes them over the private control socket
(`xae.router.control`) without a reload, then reads them back before returning, because
rollouts stop old instances right after `update` returns. The config itself is static: it is
rendered, proven with `nginx -t` and reloaded (SIGHUP) only when something global changes.

The master is a daemon in its own session: it outlives a crashed or SIGKILLed xae, so apps keep
serving while the control plane is down, and the next xae adopts it (pid file + /proc check).
This module never signals a process it has not identified as *its* master, never uses a shell,
and never touches the system nginx (`/etc/nginx`, `/run/nginx.pid`).

The router's files are private: the dir is 0700, what xae writes is 0600, and nginx runs with
umask 077 so its pid file, logs and control socket are too. As root, workers run as `nobody`
with their temp dirs outside the private tree (`xae.router.tempdirs`).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from xae.config import Settings
from xae.errors import InvalidInput, PortInUse, RouterFailure
from xae.router import process, tempdirs
from xae.router.base import Certificate, Route, RouterStatus
from xae.router.control import (
    ControlClient,
    certificate_digests,
    entry_text,
    route_entry,
    route_from_entry,
)
from xae.router.layout import RouterPaths
from xae.router.probe import accepts_connections, served_config, served_generation
from xae.router.render import RenderOptions, lua_source, read_config_id, render_config
from xae.router.validate import (
    validate_certificates,
    validate_listen_host,
    validate_routes,
    validate_update,
)

logger = logging.getLogger(__name__)

MESSAGE_MAX = 600
"""nginx's messages are cut to this many characters before they reach an error."""

WAKE_POLL = 5.0
"""Seconds one long poll for waking apps stays open (short, so a stop or reload never waits)."""

PRIVATE_UMASK = 0o077
"""nginx (and `nginx -t`) run with this umask: the files they create are the master's alone."""

PRIVATE_FILES = ("nginx.conf", "nginx.pid", "error.log", "access.log", "start.log",
                 "routes.json", ".lock", "xae_router.lua", "placeholder.crt",
                 "placeholder.key", "certificates.json")  # fmt: skip
"""The router dir's files; an older xae left them 0644, so they are tightened on each start."""


def write_private(path: Path, text: str) -> None:
    """Write `path` as a 0600 file of this user's, never through a link planted at `path`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(fd, 0o600)
        handle.write(text)


def trim_nginx_output(output: str) -> str:
    """nginx's complaint in one short line: the error lines only, without the `nginx: ` noise."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    serious = [
        line
        for line in lines
        if any(level in line for level in ("[emerg]", "[alert]", "[crit]", "[error]"))
    ]
    chosen = serious or lines
    text = "; ".join(line.removeprefix("nginx: ") for line in chosen)
    return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 3] + "..."


class NginxRouter:
    """The real `Router`: one nginx master per xae state dir, config in `settings.router_dir`."""

    def __init__(
        self,
        settings: Settings,
        *,
        start_timeout: float = 15.0,
        reload_timeout: float = 15.0,
        stop_timeout: float = 40.0,
    ) -> None:
        self.settings = settings
        self.worker = tempdirs.worker_identity()
        temp = (
            tempdirs.temp_root_for(settings.router_temp_dir, settings.router_dir)
            if self.worker is not None
            else None
        )
        self.paths = RouterPaths(settings.router_dir, worker_temp=temp)
        self.listen_host = settings.router_host
        self.port = settings.router_port
        self.start_timeout = start_timeout
        self.reload_timeout = reload_timeout
        self.stop_timeout = stop_timeout
        self.control = ControlClient(self.paths.internal_socket)
        self._presented: dict[str, Certificate] | None = None
        """The certificates the master `_presented_by` confirmed last (None: not known)."""
        self._presented_by: int | None = None
        self._wake_callback: Callable[[str], None] | None = None
        self._wake_thread: threading.Thread | None = None
        self._wake_stop = threading.Event()
        self._table: tuple[tuple[int, int, int], dict[str, Route]] | None = None
        """The saved table as last read or written, with the file's identity then."""

    @property
    def address(self) -> str:
        return f"{self.listen_host}:{self.port}"

    # -- the Router protocol -------------------------------------------------------------

    def start(self) -> None:
        """Adopt a live master from an earlier run (reloading it only if the config changed),
        or start one; either way it serves the saved routes when this returns."""
        with self._locked():
            table = self.current_routes()
            master = self._master()
            if master is None:
                self._start_master(table)
            else:
                self._ensure_config(master)
                self._sync(table)
                self._sync_certificates()

    def apply(self, routes: list[Route]) -> None:
        """Serve exactly `routes` (a full replace); return once the router holds them.

        Raises `InvalidInput` for a bad route and `RouterFailure` if the router refuses them,
        in both cases leaving the running router's routes untouched. A router that is not
        running is started with `routes`.
        """
        table = validate_routes(routes)
        with self._locked():
            master = self._master()
            if master is None:
                self._start_master(table)
            else:
                self._sync(table)

    def update(self, changed: list[Route], removed: list[str]) -> None:
        """Serve `changed` apps' new entries and drop `removed` apps, without a reload; return
        once the router holds exactly that (read back and compared).

        Validated first against the whole table (a host stays with one app); a refused update
        changes nothing. A router that is not running is started with the updated table.
        """
        with self._locked():
            table = self._load_table()
            routes, gone = validate_update(table, changed, removed)
            new = {app: r for app, r in table.items() if app not in gone}
            new.update((r.app, r) for r in routes)
            master = self._master()
            if master is None:
                self._start_master(sorted(new.values(), key=lambda r: r.app))
                return
            self.control.update(routes, gone, replace=False)
            held = self.control.held([*(r.app for r in routes), *gone])
            expected: dict[str, str | None] = {r.app: entry_text(r) for r in routes}
            expected.update(dict.fromkeys(gone))
            if held.apps != expected:
                differ = sorted(a for a in expected if held.apps.get(a) != expected[a])
                raise RouterFailure(
                    "the router did not confirm the route update (what it holds differs from "
                    f"what was sent) for {differ[:5]}"
                )
            self._save_routes(sorted(new.values(), key=lambda r: r.app))

    def set_certificates(self, certificates: list[Certificate]) -> None:
        """Present exactly `certificates` on the TLS listener (chosen by SNI), without a reload;
        returns once the router confirms it. Keys go only to the router's private dir and its
        shared memory."""
        if not self.settings.tls_port:
            raise RouterFailure("the router has no TLS listener: set XAE_TLS_PORT to a port")
        certs = validate_certificates(certificates)
        with self._locked():
            self._save_certificates(certs)
            master = self._master()
            if master is None:
                self._presented = None
                self._start_master(self.current_routes())
                return
            # What this master was last confirmed to present, if we know: then only the
            # difference is sent (one app's new certificate at 1,000 apps is one, not 1,000).
            known = self._presented if self._presented_by == master else None
            self._presented = None
            if known is None:
                self.control.set_certificates(certs)
            else:
                names = {c.name for c in certs}
                changed = [c for c in certs if known.get(c.name) != c]
                removed = [name for name in known if name not in names]
                if changed or removed:
                    self.control.set_certificates(certs, changed=changed, removed=removed)
            self._presented = {c.name: c for c in certs}
            self._presented_by = master

    def on_wake(self, callback: Callable[[str], None]) -> None:
        """Call `callback(app)` from a thread of this router's (once per wait) when requests
        are held for `app`; replaces an earlier callback. The thread long-polls the control
        socket and ends with `stop()`."""
        self._wake_callback = callback
        if self._wake_thread is None or not self._wake_thread.is_alive():
            self._wake_stop.clear()
            self._wake_thread = threading.Thread(
                target=self._wake_loop, name="xae-router-wake", daemon=True
            )
            self._wake_thread.start()

    def _wake_loop(self) -> None:
        client = ControlClient(self.paths.internal_socket, timeout=WAKE_POLL + 5)
        while not self._wake_stop.is_set():
            try:
                apps = client.waking(WAKE_POLL)
            except RouterFailure:
                self._wake_stop.wait(1.0)  # the router is down or restarting: try again soon
                continue
            for app in apps:
                callback = self._wake_callback
                if callback is None:
                    continue
                try:
                    callback(app)
                except Exception:
                    logger.exception("waking %s failed", app)

    def stop(self) -> None:
        """Graceful quit (in-flight requests finish); returns when every nginx process exited."""
        self._wake_stop.set()
        with self._locked():
            master = self._master()
            if master is None:
                self._remove_worker_temp()
                return
            family = [master, *process.children(master)]
            process.signal_if_master(master, self.paths.conf, signal.SIGQUIT)
            if not process.wait_until(lambda: not process.is_alive(master), self.stop_timeout):
                logger.warning("router nginx (pid %d) ignored a graceful quit; terminating", master)
                process.signal_if_master(master, self.paths.conf, signal.SIGTERM)
                if not process.wait_until(lambda: not process.is_alive(master), 5.0):
                    self._kill(family)
            if not process.wait_until(lambda: not any(map(process.is_alive, family)), 5.0):
                self._kill(family)
            self._remove_worker_temp()

    def status(self) -> RouterStatus:
        master = self._master()
        if master is None:
            tail = self._error_tail()
            hint = f" Last nginx error: {tail}" if tail else ""
            return RouterStatus(
                running=False,
                address=self.address,
                detail="the router is not running; the control plane starts it "
                f"(its files are in {self.paths.root}).{hint}",
            )
        generation = served_generation(self.paths.internal_socket)
        if generation is None or not accepts_connections(self.listen_host, self.port):
            where = self.address if generation is not None else str(self.paths.internal_socket)
            return RouterStatus(
                running=False,
                address=self.address,
                pid=master,
                detail=f"nginx (pid {master}) runs but does not answer on {where}; "
                f"see {self.paths.error_log}",
            )
        return RouterStatus(
            running=True,
            address=self.address,
            pid=master,
            generation=generation,
            detail=f"nginx (pid {master}) serving routing table generation {generation}",
        )

    # -- more for xae's own use ------------------------------------------------------------

    def current_routes(self) -> list[Route]:
        """The last applied routing table (what a restarted router serves), [] if none."""
        return sorted(self._load_table().values(), key=lambda r: r.app)

    def _load_table(self) -> dict[str, Route]:
        """The saved table, validated; kept in memory while the file is the one this object
        last read or wrote (validating 1,000 routes on every update would cost more than the
        update itself)."""
        try:
            info = self.paths.routes.stat()
        except FileNotFoundError:
            return {}
        key = (info.st_ino, info.st_mtime_ns, info.st_size)
        if self._table is not None and self._table[0] == key:
            return dict(self._table[1])
        try:
            raw: Any = json.loads(self.paths.routes.read_text())
            routes = validate_routes([route_from_entry(r) for r in raw])
        except FileNotFoundError:
            return {}
        except (ValueError, TypeError, KeyError, AttributeError, InvalidInput) as e:
            logger.warning("ignoring unreadable %s: %s", self.paths.routes, e)
            return {}
        table = {r.app: r for r in routes}
        self._table = (key, table)
        return dict(table)

    def render(self) -> str:
        return render_config(
            RenderOptions(
                paths=self.paths,
                listen_host=self.listen_host,
                listen_port=self.port,
                base_domain=self.settings.base_domain,
                user=self.worker.directive if self.worker is not None else None,
                tls_port=self.settings.tls_port,
                hold_timeout=self.settings.router_hold_timeout,
                hold_queue=self.settings.router_hold_queue,
                acme_upstream=self._acme_upstream(),
            )
        )

    def _acme_upstream(self) -> str | None:
        """Where ACME HTTP-01 checks go: the API, when automatic certificates are on."""
        if not self.settings.acme_directory:
            return None
        host = self.settings.api_host
        if host in ("0.0.0.0", "", "localhost"):
            host = "127.0.0.1"
        return f"{host}:{self.settings.api_port}"

    # -- starting ----------------------------------------------------------------------------

    def _start_master(self, routes: list[Route]) -> None:
        self._ensure_port_free()
        candidate = self._check(self.render())
        config_id = read_config_id(candidate.read_text())
        os.replace(candidate, self.paths.conf)
        # No master of ours runs (checked under the lock), so a socket left here is stale: a
        # SIGKILLed master cannot unlink it, and nginx cannot bind over it.
        self.paths.internal_socket.unlink(missing_ok=True)
        command = [
            self.settings.nginx_bin,
            "-p", f"{self.paths.root}/",
            "-e", str(self.paths.error_log),
            "-c", str(self.paths.conf),
        ]  # fmt: skip
        write_private(self.paths.start_log, "")
        with self.paths.start_log.open("wb") as log:
            # nginx daemonizes: this process exits once the master runs in its own session.
            proc = self._spawn(command, log)
            try:
                returncode = proc.wait(timeout=self.start_timeout)
            except subprocess.TimeoutExpired as e:
                proc.kill()
                proc.wait()
                raise RouterFailure(f"nginx did not start within {self.start_timeout:.0f}s") from e
        if returncode != 0:
            output = self.paths.start_log.read_text(errors="replace")
            if "Address already in use" in output:
                raise self._port_in_use()
            raise RouterFailure(f"nginx failed to start: {trim_nginx_output(output)}")
        if not process.wait_until(
            lambda: (
                self._master() is not None
                and served_config(self.paths.internal_socket) == config_id
                and accepts_connections(self.listen_host, self.port)
            ),
            self.start_timeout,
        ):
            raise RouterFailure(
                f"nginx started but does not answer on {self.address}: "
                f"{self._error_tail() or 'no error logged'} (see {self.paths.error_log})"
            )
        self._sync(routes)
        self._sync_certificates()
        logger.info("router started on %s with %d app(s)", self.address, len(routes))

    def _sync_certificates(self) -> None:
        """Give the running router the saved certificates if it does not hold them."""
        if not self.settings.tls_port:
            return
        certs = self._load_certificates()
        if self.control.certificates() != certificate_digests(certs):
            self.control.set_certificates(certs)

    def _load_certificates(self) -> list[Certificate]:
        try:
            raw: Any = json.loads(self.paths.certificates.read_text())
            return validate_certificates(
                [
                    Certificate(c["name"], list(c["hosts"]), c["chain_pem"], c["key_pem"])
                    for c in raw
                ]
            )
        except FileNotFoundError:
            return []
        except (ValueError, TypeError, KeyError, InvalidInput):
            # never the exception text: it could quote a key
            logger.warning("ignoring unreadable %s", self.paths.certificates)
            return []

    def _save_certificates(self, certs: Sequence[Certificate]) -> None:
        data = [
            {"name": c.name, "hosts": c.hosts, "chain_pem": c.chain_pem, "key_pem": c.key_pem}
            for c in certs
        ]
        tmp = self.paths.root / f".certificates.{os.getpid()}.json"
        write_private(tmp, json.dumps(data))
        os.replace(tmp, self.paths.certificates)

    def _ensure_placeholder(self) -> None:
        """The self-signed certificate nginx's TLS listener needs to start (it names no host)."""
        if self.paths.placeholder_cert.exists() and self.paths.placeholder_key.exists():
            return
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xae-router.invalid")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        write_private(
            self.paths.placeholder_key,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
        )
        write_private(
            self.paths.placeholder_cert, cert.public_bytes(serialization.Encoding.PEM).decode()
        )

    def _sync(self, routes: Sequence[Route]) -> None:
        """Make the running router hold exactly `routes` (one full replace, only if it does
        not already), confirm by reading everything back, and save them."""
        wanted: dict[str, str | None] = {r.app: entry_text(r) for r in routes}
        if self.control.held(None).apps != wanted:
            self.control.update(routes, [], replace=True)
            held = self.control.held(None).apps
            if held != wanted:
                differ = sorted(
                    set(held) ^ set(wanted) | {a for a in wanted if held.get(a) != wanted[a]}
                )
                raise RouterFailure(
                    f"the router did not confirm the routing table; it differs for {differ[:5]}"
                )
        self._save_routes(routes)

    def _spawn(self, command: list[str], log: Any) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
                umask=PRIVATE_UMASK,
            )
        except FileNotFoundError as e:
            raise RouterFailure(
                f"nginx is not installed at {self.settings.nginx_bin}: install Debian's nginx "
                "or set XAE_NGINX_BIN"
            ) from e

    def _ensure_port_free(self) -> None:
        self._ensure_free(self.port, "XAE_ROUTER_PORT")
        if self.settings.tls_port:
            self._ensure_free(self.settings.tls_port, "XAE_TLS_PORT")

    def _ensure_free(self, port: int, setting: str) -> None:
        host = validate_listen_host(self.listen_host).strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except PermissionError as e:
                raise RouterFailure(
                    f"not allowed to listen on port {port} (ports below 1024 need root); "
                    f"set {setting} to a higher port"
                ) from e
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise self._port_in_use(port, setting) from e
                raise RouterFailure(
                    f"cannot listen on {self.listen_host}:{port}: {e.strerror}"
                ) from e

    def _port_in_use(self, port: int | None = None, setting: str = "XAE_ROUTER_PORT") -> PortInUse:
        port = port or self.port
        return PortInUse(
            f"port {port} ({self.listen_host}:{port}) is already in use by another program, so "
            f"the router cannot listen there: stop that program or set {setting} to a free port",
            details={"port": port, "host": self.listen_host},
        )

    # -- reloading ----------------------------------------------------------------------------

    def _ensure_config(self, master: int) -> None:
        """Reload nginx only if its static config changed (listen address, worker user, an
        xae upgrade's Lua): a graceful SIGHUP, waited for until no old worker serves."""
        live = self._live_text() or ""
        text = self.render()
        if text == live and served_config(self.paths.internal_socket) == read_config_id(live):
            return
        candidate = self._check(text)
        config_id = read_config_id(text)
        old_workers = process.active_workers(master)
        log_offset = self._error_log_size()
        os.replace(candidate, self.paths.conf)
        if not process.signal_if_master(master, self.paths.conf, signal.SIGHUP):
            self._restore(live)
            raise RouterFailure("the router's nginx exited during a reload; it will be restarted")
        deadline = time.monotonic() + self.reload_timeout
        while not (
            served_config(self.paths.internal_socket) == config_id
            and not old_workers & process.active_workers(master)
        ):
            rejected = self._new_errors(log_offset)
            if rejected or time.monotonic() >= deadline:
                self._restore(live)
                why = rejected or f"no switch within {self.reload_timeout:.0f}s"
                raise RouterFailure(
                    f"nginx kept the previous config, the new one did not take effect: {why}"
                )
            time.sleep(process.POLL_INTERVAL)
        logger.info("router reloaded with config %s", config_id)

    def _check(self, text: str) -> Path:
        """Write `text` next to the live config and prove it with `nginx -t`; return its path."""
        self._prepare_dirs()
        self._write_lua()
        self._ensure_placeholder()
        candidate = self.paths.root / f".nginx.conf.{os.getpid()}.next"
        write_private(candidate, text)
        command = [self.settings.nginx_bin, "-t", "-q", "-p", f"{self.paths.root}/"]
        try:
            result = subprocess.run(
                [*command, "-c", str(candidate)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
                check=False,
                umask=PRIVATE_UMASK,
            )
        except FileNotFoundError as e:
            candidate.unlink(missing_ok=True)
            raise RouterFailure(
                f"nginx is not installed at {self.settings.nginx_bin}: install Debian's nginx "
                "or set XAE_NGINX_BIN"
            ) from e
        if result.returncode != 0:
            candidate.unlink(missing_ok=True)
            message = trim_nginx_output(result.stderr.decode(errors="replace"))
            raise RouterFailure(
                f"nginx rejected the router config, nothing was changed: {message}",
                details={"nginx": message},
            )
        return candidate

    def _restore(self, text: str) -> None:
        """Put back the config nginx still runs, so the file on disk tells the truth."""
        if not text:
            return
        backup = self.paths.root / f".nginx.conf.{os.getpid()}.restore"
        write_private(backup, text)
        os.replace(backup, self.paths.conf)

    # -- helpers -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One router operation at a time, across threads and xae processes (flock)."""
        self._prepare_dirs()
        fd = os.open(self.paths.lock, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _prepare_dirs(self) -> None:
        """The private router dir (0700, files 0600) and the workers' temp dirs."""
        self.paths.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.paths.root.chmod(0o700)
        for name in PRIVATE_FILES:
            path = self.paths.root / name
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISREG(os.lstat(path).st_mode):
                    path.chmod(0o600)
        if self.worker is not None and self.paths.worker_temp is not None:
            tempdirs.prepare(self.paths.worker_temp, self.worker)
        else:
            self.paths.temp.mkdir(mode=0o700, exist_ok=True)
            self.paths.temp.chmod(0o700)

    def _remove_worker_temp(self) -> None:
        """Once no master runs, the temp dirs outside the state dir go (the next start makes
        them again), so stopped or removed installations leave nothing behind."""
        if self.paths.worker_temp is not None:
            tempdirs.remove(self.paths.worker_temp)

    def _master(self) -> int | None:
        return process.live_master(self.paths.pid, self.paths.conf)

    def _live_text(self) -> str | None:
        try:
            return self.paths.conf.read_text()
        except FileNotFoundError:
            return None

    def _write_lua(self) -> None:
        """The packaged Lua module, copied into the private dir for nginx to load (the config
        carries its digest, so a changed module means a changed config and one reload)."""
        source = lua_source()
        try:
            if self.paths.lua_module.read_text() == source:
                return
        except FileNotFoundError:
            pass
        tmp = self.paths.root / f".xae_router.{os.getpid()}.lua"
        write_private(tmp, source)
        os.replace(tmp, self.paths.lua_module)

    def _save_routes(self, routes: Sequence[Route]) -> None:
        data = [route_entry(r) for r in routes]
        tmp = self.paths.root / f".routes.{os.getpid()}.json"
        write_private(tmp, json.dumps(data, separators=(",", ":")) + "\n")
        os.replace(tmp, self.paths.routes)
        info = self.paths.routes.stat()
        self._table = ((info.st_ino, info.st_mtime_ns, info.st_size), {r.app: r for r in routes})

    def _error_log_size(self) -> int:
        try:
            return self.paths.error_log.stat().st_size
        except FileNotFoundError:
            return 0

    def _new_errors(self, offset: int) -> str:
        """`[emerg]` lines nginx logged since `offset` (a reload it refused), trimmed."""
        try:
            with self.paths.error_log.open("rb") as handle:
                handle.seek(offset)
                text = handle.read(64 * 1024).decode(errors="replace")
        except FileNotFoundError:
            return ""
        lines = [line for line in text.splitlines() if "[emerg]" in line]
        return trim_nginx_output("\n".join(lines)) if lines else ""

    def _error_tail(self) -> str:
        size = self._error_log_size()
        return self._new_errors(max(0, size - 4096))

    def _kill(self, pids: list[int]) -> None:
        """Last resort after a quit and a terminate were ignored: only nginx processes."""
        for pid in pids:
            if process.is_alive(pid) and process.title(pid).startswith("nginx:"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        process.wait_until(lambda: not any(map(process.is_alive, pids)), 5.0)
