"""The release phase: a Procfile's `release:` command, run once per deploy before the rollout.

Heroku's model, which users know: database migrations, cache warm-ups, asset uploads. The
command runs in a one-off container of the NEW release (its image, its config), after the
release row exists and before any instance of it starts; its output streams to the deploying
client. A non-zero exit or a timeout fails the deploy: the release is recorded as failed with
the reason, and the current release keeps serving, untouched.

Only deploys run it (a new build is what brings new migrations). A config change and a
rollback do not: a rollback does not undo a migration (migrations must stay compatible with
the release before them, as on Heroku), and re-running the old release's command would run
old migrations against a newer schema.
"""

from __future__ import annotations

from collections.abc import Callable

from xae.control.oneoff import OneOffTimedOut, run_in_release
from xae.control.platform import Platform
from xae.errors import DeployFailed
from xae.runtime.base import Progress


def run_release_phase(
    p: Platform,
    name: str,
    release_id: int,
    version: int,
    command: str,
    progress: Progress,
    output: Callable[[str], None],
) -> None:
    """Run the release command of v`version`; raise `DeployFailed` unless it exits with 0."""
    progress(f"running the release command `{command}` in a one-off container of v{version}")
    shown = command if len(command) <= 80 else command[:77] + "..."
    try:
        code = run_in_release(
            p,
            name,
            release_id,
            command,
            "release",
            f"release-v{version}",
            output,
            timeout=p.settings.release_timeout,
        )
    except OneOffTimedOut:
        raise DeployFailed(
            f"the release command `{shown}` did not finish within "
            f"{p.settings.release_timeout:.0f} s and was stopped: v{version} was not rolled "
            "out. Make it faster, or raise XAE_RELEASE_TIMEOUT",
            details={"release_command": shown, "timed_out": True},
        ) from None
    if code != 0:
        raise DeployFailed(
            f"the release command `{shown}` failed with exit code {code}: v{version} was not "
            "rolled out. Its output is above; fix the command and deploy again",
            details={"release_command": shown, "exit_code": code},
        )
    progress("the release command succeeded")
