"""`xae git:remote`, `git:clone`, `git:branch` and `git:credential`: push to deploy.

Each app has a repository on the API (`/git/<app>.git`). `git:remote` adds it to the current
repository as the remote `xae` and makes `xae git:credential` git's credential helper for the
API's address, so `git push xae main` authenticates with the token of `xae login` and no token
is ever typed or written into `.git/config`. The helper answers only for the API the CLI is
logged in to, and never stores nor erases anything (the token is `xae login`'s).

git runs as an argument list (no shell); the helper's command line in git's config is the
path of this `xae`, quoted.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from xae.cli import config, output
from xae.cli.client import api
from xae.cli.credential import answer
from xae.cli.errors import CLIError, usage_error
from xae.cli.options import AppOption, JsonOption, app_name, require_app

REMOTE = "xae"


def repo_url(api_url: str, path: str) -> str:
    return api_url.rstrip("/") + path


def credential_key(api_url: str) -> str:
    """The git config section the helper is set in: the API's scheme and host (and port),
    so the one helper serves every app's repository on that API."""
    parts = urlsplit(api_url)
    return f"credential.{parts.scheme}://{parts.netloc}"


def helper_command() -> str:
    """How git runs the credential helper (`!` makes git run it as a shell command, the action
    appended): for `get`, the Python running this CLI on the helper's own small module
    (`xae.cli.credential`), which starts far faster than the whole CLI. `store` and `erase`,
    which have nothing to do (the token belongs to `xae login`), the shell function answers
    itself: git runs `store` after every push that authenticated, and a Python start is
    ~0.06 s of that push here, more on a busy machine."""
    python = shlex.quote(sys.executable)
    return f'!f() {{ test "$1" = get || exit 0; exec {python} -m xae.cli.credential get; }}; f'


def _git(
    *args: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    if shutil.which("git") is None:
        raise CLIError("git is not installed: install it (e.g. `apt-get install git`)")
    return subprocess.run(["git", *args], cwd=cwd, text=True, capture_output=True, check=check)


def _set_helper(api_url: str, cwd: Path) -> None:
    key = f"{credential_key(api_url)}.helper"
    _git("config", "--local", "--unset-all", key, cwd=cwd, check=False)
    # An empty value first: helpers set for every host (`store`, ...) are not asked, so the
    # token is never saved by another helper.
    _git("config", "--local", "--add", key, "", cwd=cwd)
    _git("config", "--local", "--add", key, helper_command(), cwd=cwd)


def _info(ctx: typer.Context, target: str) -> dict[str, Any]:
    info: dict[str, Any] = api(ctx).get(f"/v1/apps/{target}/git")
    return info


def remote(ctx: typer.Context, app: AppOption = None) -> None:
    """Add (or update) the remote `xae` of the current git repository: `git push xae main`
    deploys. Sets `xae git:credential` as git's credential helper for the API."""
    target = require_app(app)
    inside = _git("rev-parse", "--show-toplevel", check=False)
    if inside.returncode != 0:
        raise usage_error("not inside a git repository: run `git init` first, or `xae git:clone`")
    top = Path(inside.stdout.strip())
    info = _info(ctx, target)
    api_url = config.load().api_url
    url = repo_url(api_url, str(info["path"]))
    exists = _git("remote", "get-url", REMOTE, cwd=top, check=False).returncode == 0
    _git("remote", "set-url" if exists else "add", REMOTE, url, cwd=top)
    _set_helper(api_url, top)
    verb = "updated" if exists else "added"
    output.success(
        f"{verb} remote {REMOTE} ({url}): `git push {REMOTE} {info['branch']}` deploys {target}"
    )


def clone(
    ctx: typer.Context,
    app: Annotated[str, typer.Argument(help="The app whose repository to clone.")],
    directory: Annotated[
        str | None, typer.Argument(help="Where to clone it (default: the app's name).")
    ] = None,
) -> None:
    """Clone the app's repository (its remote is `xae`, set up to push to deploy)."""
    target = app_name(app)
    info = _info(ctx, target)
    api_url = config.load().api_url
    url = repo_url(api_url, str(info["path"]))
    dest = Path(directory or target)
    key = f"{credential_key(api_url)}.helper"
    done = subprocess.run(
        ["git", "-c", f"{key}=", "-c", f"{key}={helper_command()}"]
        + ["clone", "--origin", REMOTE, "--", url, str(dest)],
        text=True,
        env=os.environ | {"GIT_TERMINAL_PROMPT": "0"},
    )
    if done.returncode != 0:
        raise CLIError(f"git clone of {target} failed (its output is above)")
    _set_helper(api_url, dest)
    output.success(f"cloned {target} into {dest}: `git push {REMOTE} {info['branch']}` deploys")


def branch(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="The new deploy branch (none: show the current one).")
    ] = None,
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show or set the deploy branch: pushing it builds and rolls out the pushed commit."""
    target = require_app(app)
    if name is None:
        info = _info(ctx, target)
    else:
        info = api(ctx).put(f"/v1/apps/{target}/git/branch", {"branch": name})
    if as_json:
        output.print_json(info)
    elif name is None:
        output.plain(str(info["branch"]))
    else:
        output.success(f"pushes to {info['branch']!r} now deploy {target}")


def credential(
    action: Annotated[str, typer.Argument(help="get, store or erase (git passes it).")],
) -> None:
    """git's credential helper for xae (set by `git:remote`): answers `get` with the token of
    `xae login`; `store` and `erase` do nothing."""
    sys.stdout.write(answer(action, sys.stdin.read()))
    sys.stdout.flush()
