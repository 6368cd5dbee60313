"""How a Procfile line runs in a container: as a shell would run it, with stops that reach it.

A Procfile line is a shell command line: `python manage.py migrate && gunicorn app:app`,
`NODE_ENV=production node app.js`, `a; b`. Prefixing it with `exec` (the old shape) breaks each
of these: `exec a && b` replaces the shell with `a` so `b` never runs, and `exec VAR=x cmd` looks
for a program called `VAR=x`. So the line runs unchanged, through `eval`, in a shell.

A shell does not hand its process over to the last command of such a line (measured on the
stack images, Debian bookworm: bash 5.2 keeps running for `a && b`, dash 0.5.12 for every line
but a lone command), so a `docker stop` or a pod deletion signals a shell, not the app. The
docker runtime has an init (tini) as PID 1 but it signals only its child; on kubernetes there is
no init at all and the shell is PID 1, which ignores SIGTERM unless it traps it. Hence the small
supervisor below, the same on both backends, needing only a POSIX `/bin/sh` (user images of
`deploy --image` may have nothing else):

- the line runs in a background subshell, so the supervising shell stays free to take signals
  while it `wait`s (a shell runs traps only after a *foreground* command ends);
- on SIGTERM, SIGINT or SIGQUIT the supervisor sends SIGTERM to its whole process group, which
  holds the subshell and everything the line started: the app receives it directly, whatever
  the line looks like. The supervisor leads that group in a container (tini starts its child
  in a new group; a container's PID 1 leads its session); where it does not, it signals only
  the subshell rather than a group that is not its own;
- the subshell traps SIGTERM with `exit`, which a shell runs only once the running command has
  ended: it waits for the app to shut down gracefully, and a line stopped half-way (`a; b`
  stopped during `a`) does not go on to start `b`;
- the supervisor then waits again and exits with the line's status (the app's exit code).

Measured on this machine (dash and bash, with docker's init and as PID 1): `docker stop` of a
compound line takes ~0.13 s, and an app that handles SIGTERM gets to finish. One difference
from a foreground process: POSIX shells start background commands with SIGINT and SIGQUIT
ignored (dash cannot undo it; bash does), so the supervisor turns those signals into SIGTERM.

Pure: argument lists only. The command line is passed as a separate argument (`$1`), never
pasted into the script, so no quoting of user text is involved.
"""

from __future__ import annotations

SHELL = "/bin/sh"
ARGV0 = "sh"
"""`$0` of the line, as with `sh -c LINE`: messages read `sh: 1: gunicron: not found`."""

SUPERVISOR = """\
xae_stopping=
trap 'xae_stopping=1; trap "" TERM INT QUIT; xae_stop' TERM INT QUIT
xae_stop() { kill -TERM -$$ 2>/dev/null || kill -TERM "$xae_pid" 2>/dev/null; }
(trap exit TERM; xae_line=$1; shift; eval "$xae_line") &
xae_pid=$!
wait "$xae_pid"; xae_status=$?
if [ -n "$xae_stopping" ]; then wait "$xae_pid"; xae_status=$?; fi
exit "$xae_status"
"""


def shell_command(line: str) -> list[str]:
    """The container command (argv) that runs the Procfile-style `line`."""
    return [SHELL, "-c", SUPERVISOR, ARGV0, line]
