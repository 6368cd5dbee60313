"""The channel from one push's `pre-receive` hook back to the API process that authorized it.

For each `git-receive-pack` request the API opens a `PushChannel`: a unix socket in a fresh
0700 directory, and a random one-time secret; both go into the environment of the
`git http-backend` it spawns, and from there to the hook (`xae.codecenter.hook`). The channel
is bound, when it opens, to the app and the user the API authorized; the hook sends only the
commit's tree and its sha, subject and branch, and gets the deploy's events back, one JSON
object per line, ending with `done` or `error`.

So no one can deploy through it with someone else's authority: the socket is reachable only by
xae's own user (its directory is 0700), exists only while the push's request runs, serves only
connections that present the secret, and deploys only to the app (or, with preview apps on,
to the pushed branch's preview app of it) and as the user the request was authorized for; each
branch is served once per push. A preview app is made only for a user who may create apps in
the team (`xae.control.previews`); for another (an app-limited token) the branch is stored and
the push says why no preview was made, without failing. The deploy itself is
`DeployPipeline.run` (the same pipeline as `xae deploy`, with its queue); the tree is spooled
first, bounded by `max_upload_bytes`.

The hook is answered `done` as soon as the new release is current and serves
(`DeployPipeline.run`'s `on_serving`), so git moves the ref and the push returns then; the old
instances' drain and the image collection follow in this thread, under the app's lock. Nothing
that happens after that answer can fail the push: it is logged.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from xae.auth.policy import Principal
from xae.codecenter.deploy import DeployPipeline
from xae.codecenter.hook import BRANCH_ENV, FRAME, PREVIEWS_ENV, SECRET_ENV, SOCKET_ENV
from xae.codecenter.repos import branch_head
from xae.control.apps import get_app
from xae.control.platform import Platform
from xae.control.previews import preview_for_branch, remove_preview
from xae.domain.builds import BuildSource
from xae.domain.deploy_events import DeployEvent, Done, Emit, Failed, Step
from xae.domain.gitrefs import ZERO_SHA, branch_problem
from xae.domain.terminal import strip_escapes
from xae.errors import PreviewNotAllowed, UploadTooLarge, XaeError
from xae.store.models import App

log = logging.getLogger("xae.codecenter.push")

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_HEADER_MAX = 16 << 10
_READ_TIMEOUT = 120.0
"""Seconds the hook may go silent while it sends the tree."""
_ACCEPT_POLL = 0.5
_FRAME_MAX = 1 << 20


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _push_lock(key: str) -> threading.Lock:
    """The lock one app's pushes take turns with (one per app of this process)."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


class _Cut(Exception):
    """The hook's stream ended early or broke the framing."""


class PushChannel:
    """One push's socket, secret and listener thread; `close()` removes them all."""

    def __init__(
        self, p: Platform, user: Principal, app: App, branch: str, *, previews: bool = False
    ) -> None:
        self.p, self.user, self.app, self.branch = p, user, app, branch
        self.previews = previews
        """The app has preview apps on: other branches deploy to (or remove) their previews."""
        self.secret = secrets.token_urlsafe(32)
        # /tmp, not the state dir: a socket's path must stay short (108 bytes).
        self._dir = Path(tempfile.mkdtemp(prefix=f"xae-push-{p.settings.plane}-"))
        self.path = self._dir / "s"
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self.path))
        self._server.listen(1)
        self._server.settimeout(_ACCEPT_POLL)
        self._closed = threading.Event()
        self._held: list[threading.Lock] = []
        """Apps' push locks this push holds: released when its request ends, after git moved
        the refs, so the next push of that app sees where its branch now points."""
        self._served: set[tuple[str, str]] = set()
        """(action, branch) already handled: each at most once per push."""
        self._thread = threading.Thread(target=self._serve, name=f"push-{app.name}", daemon=True)
        self._thread.start()

    def environ(self) -> dict[str, str]:
        env = {SOCKET_ENV: str(self.path), SECRET_ENV: self.secret, BRANCH_ENV: self.branch}
        if self.previews:
            env[PREVIEWS_ENV] = "1"
        return env

    def close(self) -> None:
        """Stop listening and remove the socket (a deploy already started runs on); let the
        next push of the apps this one deployed go."""
        self._closed.set()
        self._server.close()
        shutil.rmtree(self._dir, ignore_errors=True)
        while self._held:
            self._held.pop().release()

    def _take_turn(self, app: str, branch: str, old: str, emit: Emit) -> bool:
        """Wait until no other push of `app` runs (saying so), then check that `branch` still
        points where this push's client saw it (`old`): another push that went first moved it,
        and git would refuse this one's ref update after its deploy. False: refused, said."""
        lock = _push_lock(f"{self.p.settings.plane}/{app}")
        if lock not in self._held:  # a push of several branches takes its app's turn once
            if not lock.acquire(blocking=False):
                emit(Step(f"queued: another push to {app} is deploying; this one waits for it"))
                if not lock.acquire(timeout=self._turn_timeout()):
                    emit(Failed("push_timeout", f"the push to {app} waited too long; push again"))
                    return False
            self._held.append(lock)
        now = branch_head(self.p.settings, self.app.name, branch) or ZERO_SHA
        if now != old:
            emit(
                Failed(
                    "branch_moved",
                    f"{branch!r} moved to {now[:7]} while this push waited (another push "
                    "deployed it): nothing was deployed; fetch, merge or rebase, and push again",
                )
            )
            return False
        return True

    def _turn_timeout(self) -> float:
        settings = self.p.settings
        return settings.build_timeout + settings.release_timeout + settings.rollout_timeout + 60

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            with conn:
                try:
                    self._handle(conn)
                except Exception:
                    log.exception("the push to %s failed unexpectedly", self.app.name)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(_READ_TIMEOUT)
        reader = conn.makefile("rb")
        header = _read_header(reader)
        given = header.get("secret")
        if not isinstance(given, str) or not hmac.compare_digest(given, self.secret):
            return  # not this push's hook: nothing is said
        action, branch = header.get("action", "deploy"), header.get("branch")
        if not isinstance(action, str) or not isinstance(branch, str):
            return
        if (action, branch) in self._served or not self._allowed(action, branch):
            return
        self._served.add((action, branch))
        broken = False

        def emit(event: DeployEvent) -> None:
            nonlocal broken
            if broken:
                return
            try:
                conn.sendall(event.to_json().encode() + b"\n")
            except OSError:
                broken = True  # the pusher went away; the deploy still runs to its end

        if action == "remove":
            self._remove_preview(branch, emit)
            return
        commit, message, old = header.get("commit"), header.get("message"), header.get("old")
        if not isinstance(commit, str) or not _SHA.fullmatch(commit):
            return
        if not isinstance(old, str) or not _SHA.fullmatch(old):
            return
        subject = strip_escapes(message if isinstance(message, str) else "")[:256]
        settings = self.p.settings
        settings.builds_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=settings.builds_dir) as spool:
            try:
                _receive_tree(reader, spool, settings.max_upload_bytes)
            except XaeError as e:
                emit(Failed.of(e))
                return
            except (_Cut, OSError):
                emit(Failed("invalid_upload", "the pushed tree arrived cut short; push again"))
                return
            source = BuildSource(kind="git", commit=commit, message=subject, branch=branch)
            if not self._take_turn(self.app.name, branch, old, emit):
                return
            answered = False

            def serving(_version: int) -> None:
                # The new release is current and serves: the push is answered now, and the
                # pipeline drains the old instances and collects old images after (under the
                # app's lock and its queue turn, so the app's next deploy still waits for it).
                nonlocal answered
                emit(self._done(target.name))
                answered = True

            try:
                target = self.app if action == "deploy" else self._preview_app(branch, emit)
                DeployPipeline(self.p).run(
                    self.user, target, spool, emit, source=source, on_serving=serving
                )
                if not answered:
                    emit(self._done(target.name))
            except PreviewNotAllowed as e:
                # Not a failed push: the branch is stored, only its preview is not made.
                emit(Step(e.message))
                emit(Done(url="", release=None, processes={}))
            except XaeError as e:
                if answered:  # after the release served: the pusher was told; the log is told
                    log.warning("after the push to %s served: %s", self.app.name, e.message)
                else:
                    emit(Failed.of(e))
            except Exception:
                log.exception("the deploy of %s from git failed unexpectedly", self.app.name)
                if not answered:
                    emit(
                        Failed(
                            "internal_error",
                            "the deploy hit an unexpected error; the server log has details",
                        )
                    )

    def _allowed(self, action: str, branch: str) -> bool:
        """Whether the hook may ask `action` for `branch` in this push: deploy the deploy
        branch; with previews on, deploy or remove another, well-named branch's preview."""
        if action == "deploy":
            return branch == self.branch
        if action in ("preview", "remove"):
            return self.previews and branch != self.branch and branch_problem(branch) is None
        return False

    def _preview_app(self, branch: str, emit: Callable[[DeployEvent], None]) -> App:
        """The preview app of `branch`, created on its first push (a copy of the app's config,
        one web instance: `xae.control.previews`)."""
        name = preview_for_branch(self.p, self.user, self.app.name, branch)
        emit(Step(f"preview app {name} (previews of {self.app.name} are on)"))
        with self.p.db.session() as session:
            return get_app(session, name)

    def _remove_preview(self, branch: str, emit: Callable[[DeployEvent], None]) -> None:
        try:
            removed = remove_preview(self.p, self.user, self.app.name, branch)
        except XaeError as e:
            emit(Failed.of(e))
            return
        if removed is None:
            emit(Step(f"{branch!r} had no preview app"))
        else:
            emit(Step(f"destroyed the preview app {removed}"))
        emit(Done(url="", release=None, processes={}))

    def _done(self, name: str) -> Done:
        with self.p.db.session() as session:
            release = get_app(session, name).current_release
            shown = (
                {"version": release.version, "description": release.description}
                if release is not None
                else None
            )
        return Done(url=self.p.url_for(name), release=shown, processes={})


def _read_header(reader: BinaryIO) -> dict[str, object]:
    line = reader.readline(_HEADER_MAX)
    if not line.endswith(b"\n"):
        return {}
    try:
        header = json.loads(line)
    except ValueError:
        return {}
    return header if isinstance(header, dict) else {}


def _read_exactly(reader: BinaryIO, size: int) -> bytes:
    data = reader.read(size)
    if len(data) != size:
        raise _Cut
    return data


def _receive_tree(reader: BinaryIO, spool: BinaryIO, limit: int) -> None:
    """Copy the framed tar into `spool` (rewound after), refusing one over `limit` bytes."""
    total = 0
    while True:
        (size,) = FRAME.unpack(_read_exactly(reader, FRAME.size))
        if size == 0:
            break
        if size > _FRAME_MAX:
            raise _Cut
        total += size
        if total > limit:
            raise UploadTooLarge(
                f"the pushed tree is larger than {limit} bytes: keep build output and "
                "dependencies out of the repository, or raise XAE_MAX_UPLOAD_BYTES"
            )
        spool.write(_read_exactly(reader, size))
    spool.seek(0)
