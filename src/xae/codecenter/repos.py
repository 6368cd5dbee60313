"""Each app's bare git repository: `<state_dir>/repos/<app>.git`, held by xae.

A repository is created lazily, the first time the app is fetched from or pushed to (so apps
made before git hosting existed get one too, and an app never pushed costs no disk); it is
removed with the app (`xae.control.apps.destroy_app`), and lives in the state dir, so a backup
of the state dir includes it.

Everything in the repository but its objects and refs is xae's: the config and the
`pre-receive` hook are checked here on every use (and written where they differ), never taken
from a push, so a pusher can change neither. The hook runs `xae.codecenter.hook` with the
interpreter running xae.

Never run with user text in a shell: every `git` call is an argument list, and the branch
names passed here have been through `xae.domain.gitrefs`.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import xae
from xae.auth.policy import Principal
from xae.config import Settings
from xae.control.apps import get_app
from xae.control.audit import record
from xae.control.platform import Platform
from xae.domain.gitrefs import HEADS, validate_branch
from xae.domain.names import validate_app_name
from xae.errors import XaeError
from xae.store.models import App

HOOK = "pre-receive"
_PACKAGE_ROOT = str(Path(xae.__file__).resolve().parent.parent)
"""The directory `xae` is imported from in this process (a source tree or site-packages)."""
_GIT_TIMEOUT = 30.0


def repo_path(settings: Settings, name: str) -> Path:
    return settings.repos_dir / f"{validate_app_name(name)}.git"


def branch_head(settings: Settings, name: str, branch: str) -> str | None:
    """The commit `branch` (a validated name) of app `name`'s repository points at now, or
    None when the branch does not exist."""
    repo = repo_path(settings, name)
    try:
        found = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            env=git_environ(),
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise XaeError(f"the app's git repository could not be read ({e})") from e
    return found.stdout.strip() or None if found.returncode == 0 else None


def _hook_text() -> str:
    # The interpreter's and the package's paths are xae's own (not a pusher's); quoted for the
    # shell all the same. `-S`: no `site`, whose .pth files (the editable install's, setuptools'
    # hook) cost ~30 ms of every push, more on a busy machine; the hook needs only the standard
    # library and xae, whose directory (this process's own, so the hook runs the code the API
    # runs) is put first on the path instead.
    return (
        "#!/bin/sh\n"
        "# Written by xae (xae.codecenter.repos) on every push: edits do not last.\n"
        f'PYTHONPATH={shlex.quote(_PACKAGE_ROOT)}${{PYTHONPATH:+:"$PYTHONPATH"}}\n'
        "export PYTHONPATH\n"
        f"exec {shlex.quote(sys.executable)} -S -m xae.codecenter.hook\n"
    )


def _git(repo: Path, *args: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            env=git_environ(),
        ).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise XaeError(f"the app's git repository could not be prepared ({e})") from e


def git_environ() -> dict[str, str]:
    """The environment `git` runs with here: no user or system config, no prompts."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }


def ensure_repo(settings: Settings, name: str, branch: str) -> Path:
    """The app's repository, created if missing, its config and hook made xae's; `HEAD`
    names `branch` so a clone checks out the deploy branch."""
    repo = repo_path(settings, name)
    settings.repos_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not (repo / "HEAD").exists():
        repo.mkdir(mode=0o700, exist_ok=True)
        _git(repo, "init", "--quiet", "--bare")
    options = {
        "http.receivepack": "true",
        "http.uploadpack": "true",
        "receive.fsckObjects": "true",
        "receive.denyNonFastForwards": "false",
        "receive.maxInputSize": str(settings.max_upload_bytes),
        "core.hooksPath": str(repo / "hooks"),
    }
    # One read of the config; a write only for what differs (each `git` call is a fork).
    current = dict(
        line.partition("=")[::2] for line in _git(repo, "config", "--local", "--list").splitlines()
    )
    for key, value in options.items():
        if current.get(key.lower()) != value:
            _git(repo, "config", key, value)
    head = f"ref: {HEADS}{validate_branch(branch)}"
    if (repo / "HEAD").read_text().strip() != head:
        _git(repo, "symbolic-ref", "HEAD", HEADS + branch)
    hook = repo / "hooks" / HOOK
    hook.parent.mkdir(exist_ok=True)
    text = _hook_text()
    if not hook.exists() or hook.read_text() != text:
        tmp = hook.with_name(HOOK + ".tmp")
        tmp.write_text(text)
        tmp.chmod(0o700)
        tmp.replace(hook)
    return repo


def set_head(settings: Settings, name: str, branch: str) -> None:
    """Point an existing repository's `HEAD` at the new deploy branch (none: nothing to do)."""
    repo = repo_path(settings, name)
    if (repo / "HEAD").exists():
        _git(repo, "symbolic-ref", "HEAD", HEADS + validate_branch(branch))


def set_deploy_branch(p: Platform, user: Principal, app: App, branch: str) -> str:
    """Make `branch` the app's deploy branch (its next push deploys); returns it."""
    branch = validate_branch(branch)
    with p.strategy.lock(app.name), p.db.session() as session:
        row = get_app(session, app.name, app.id)
        before = row.deploy_branch
        row.deploy_branch = branch
        record(
            session,
            user,
            "app.git.branch",
            app.name,
            app=app.name,
            details={"from": before, "to": branch},
        )
        set_head(p.settings, app.name, branch)
    return branch
