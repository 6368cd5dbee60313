"""The `pre-receive` hook of every app repository: decides a push, and deploys its commit.

`git receive-pack` runs it (`python -m xae.codecenter.hook`, written by
`xae.codecenter.repos`) with the pushed ref updates on standard input, before any ref moves;
while it runs, the pushed objects are in git's quarantine, which the hook's environment names,
so `git archive` of the new commit works only from here. Whatever it prints reaches the pushing
terminal as `remote:` lines; a non-zero exit refuses the whole push, so a refused or failed
deploy leaves every ref (and the release serving) as it was. A push of several branches (preview
apps on) is refused only while nothing it deployed serves yet (`run_steps`).

It holds no authority of its own. The API process that spawned `git http-backend` for this one
push (`xae.codecenter.push`) put, in its environment, the path of a unix socket it listens on
for this push only and a one-time secret; the hook hands it the commit's tree and prints the
deploy's events as they come back. The app and the user the deploy runs as were fixed by the
API when it authorized the push: nothing the hook sends can name another app or user.

Standard library only (plus `xae.domain.gitrefs`): it starts once per push.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from typing import Any, BinaryIO

from xae.domain.gitrefs import BadUpdate, RefUpdate, parse_updates, plan_push

SOCKET_ENV = "XAE_PUSH_SOCKET"
SECRET_ENV = "XAE_PUSH_SECRET"
BRANCH_ENV = "XAE_DEPLOY_BRANCH"
PREVIEWS_ENV = "XAE_PREVIEWS"
"""Set (to `1`) when the app has preview apps on: other branches deploy to their previews."""

CHUNK = 1 << 16
FRAME = struct.Struct(">I")
"""The tree goes to the API in frames: a 4-byte length, then that many bytes; an empty frame
ends it. A cut stream (no empty frame) is a failed archive, never a short tree deployed."""

GITLINK_MODE = "160000"


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def gitlinks(sha: str) -> list[str]:
    """The paths of submodules (gitlinks) in commit `sha`'s tree."""
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "-z", "--full-tree", sha],
        check=True,
        capture_output=True,
    ).stdout
    found = []
    for entry in listing.split(b"\0"):
        meta, _, path = entry.partition(b"\t")
        if meta.split(b" ")[0] == GITLINK_MODE.encode():
            found.append(path.decode(errors="replace"))
    return found


def object_type(sha: str) -> str:
    return subprocess.run(
        ["git", "cat-file", "-t", sha], check=True, capture_output=True, text=True
    ).stdout.strip()


def subject(sha: str) -> str:
    return subprocess.run(
        ["git", "log", "-1", "--format=%s", sha], check=True, capture_output=True, text=True
    ).stdout.strip()


def show_event(event: dict[str, Any]) -> bool | None:
    """Print one deploy event; True when it ends the deploy well, False badly, None: more."""
    kind = event.get("event")
    if kind == "step":
        say(f"-----> {event.get('message', '')}")
    elif kind == "log":
        say(f"       {event.get('line', '')}")
    elif kind == "done":
        release = event.get("release") or {}
        version = release.get("version")
        if event.get("url"):  # a deploy (a removed preview ends with no URL)
            named = f"v{version}" if version is not None else "the new release"
            say(f"-----> deployed {named}: {event.get('url', '')}")
        return True
    elif kind == "error":
        error = event.get("error") or {}
        for line in str(error.get("message", "the deploy failed")).splitlines() or [""]:
            say(f" !     {line}")
        say(" !     the push is refused; the release serving before it still serves")
        return False
    return None


def send_tree(sha: str, out: socket.socket) -> bool:
    """Stream `git archive` of `sha` to `out`, framed; False if git failed."""
    archive = subprocess.Popen(
        ["git", "archive", "--format=tar", sha],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    stream: BinaryIO = archive.stdout  # type: ignore[assignment]
    try:
        while chunk := stream.read(CHUNK):
            out.sendall(FRAME.pack(len(chunk)) + chunk)
    finally:
        stream.close()
        code = archive.wait()
    if code == 0:
        out.sendall(FRAME.pack(0))
    return code == 0


def deploy(update: RefUpdate, branch: str, path: str, secret: str, action: str = "deploy") -> int:
    """Deploy the commit `update` brings to `branch`: to the app (`deploy`) or to the branch's
    preview app (`preview`); 0 when it serves."""
    sha = update.new
    if object_type(sha) != "commit":
        say(f" !     {branch!r} must point at a commit to deploy")
        return 1
    inside = gitlinks(sha)
    if inside:
        shown = ", ".join(repr(p) for p in inside[:5])
        say(
            f" !     the commit has submodules ({shown}): xae does not fetch them, "
            "and they point outside this repository; vendor their code into the tree"
        )
        return 1
    header = {
        "secret": secret,
        "commit": sha,
        "branch": branch,
        "message": subject(sha),
        "old": update.old,
        "action": action,
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as channel:
        try:
            channel.connect(path)
            channel.sendall(json.dumps(header).encode() + b"\n")
            if not send_tree(sha, channel):
                say(" !     git could not archive the pushed commit")
                return 1
            channel.shutdown(socket.SHUT_WR)
            return _replies(channel)
        except (OSError, ValueError) as e:
            say(f" !     lost the deploy's progress ({type(e).__name__}): `xae releases` says")
            say("       whether it finished")
            return 1


def close_preview(branch: str, path: str, secret: str) -> int:
    """Have the preview app of the deleted `branch` destroyed; 0 when done."""
    header = {"secret": secret, "branch": branch, "action": "remove"}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as channel:
        try:
            channel.connect(path)
            channel.sendall(json.dumps(header).encode() + b"\n")
            channel.shutdown(socket.SHUT_WR)
            return _replies(channel)
        except (OSError, ValueError) as e:
            say(f" !     lost the answer about the preview of {branch!r} ({type(e).__name__})")
            return 1


def _replies(channel: socket.socket) -> int:
    """Print the channel's events until the last; 0 if it ended well."""
    with channel.makefile("rb") as replies:
        for raw in replies:
            ended = show_event(json.loads(raw))
            if ended is not None:
                return 0 if ended else 1
    say(" !     the deploy ended without a result: `xae releases` says what runs")
    return 1


def main() -> int:
    path, secret = os.environ.get(SOCKET_ENV), os.environ.get(SECRET_ENV)
    branch = os.environ.get(BRANCH_ENV)
    if not (path and secret and branch):
        say(" !     this repository takes pushes only through xae's API (`xae git:remote`)")
        return 1
    try:
        updates = parse_updates(sys.stdin.read())
    except BadUpdate as e:
        say(f" !     {e}")
        return 1
    plan = plan_push(updates, branch, previews=os.environ.get(PREVIEWS_ENV) == "1")
    for refusal in plan.refusals:
        say(f" !     {refusal}")
    if plan.refusals:
        say(" !     nothing was stored: the whole push is refused")
        return 1
    if plan.deploy is None and not plan.previews and not plan.closed:
        say(f"-----> stored; only a push to {branch!r} deploys (`xae git:branch` changes it)")
        return 0
    steps: list[tuple[str, Callable[[], int]]] = []
    if plan.deploy is not None:
        shown = f"{plan.deploy.new[:7]} of {branch!r}"
        steps.append((f"deploying {shown}", partial(deploy, plan.deploy, branch, path, secret)))
    for update in plan.previews:
        other = update.branch or ""
        steps.append(
            (
                f"deploying {update.new[:7]} of {other!r} to its preview app",
                partial(deploy, update, other, path, secret, action="preview"),
            )
        )
    for other in plan.closed:
        steps.append(
            (
                f"removing the preview app of {other!r} (deleted)",
                partial(close_preview, other, path, secret),
            )
        )
    return run_steps(steps)


def run_steps(steps: list[tuple[str, Callable[[], int]]]) -> int:
    """Run the push's deploys and removals in order (the deploy branch's first).

    A failure before anything changed refuses the whole push: every ref and release stays as
    it was. Once one step changed what serves, the push can no longer be refused without
    leaving a ref behind the release it deployed (git refuses every ref of a push or none), so a
    later failure is reported, the remaining steps still run, and the refs are stored."""
    changed = False
    failed: list[str] = []
    for announce, step in steps:
        say(f"-----> {announce}")
        try:
            code = step()
        except (OSError, subprocess.SubprocessError):
            say(" !     git could not read the pushed commit; push it again")
            code = 1
        if code == 0:
            changed = True
        elif not changed:
            return 1
        else:
            failed.append(announce)
    for what in failed:
        say(f" !     failed: {what}")
    if failed:
        say(" !     the refs are stored anyway, since the steps before it changed what serves;")
        say("       push the branch again (`git commit --allow-empty` makes a new commit) to retry")
    return 0


if __name__ == "__main__":
    sys.exit(main())
