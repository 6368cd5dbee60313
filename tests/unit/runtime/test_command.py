"""The Procfile-line supervisor, run for real by the shells the stack images have (dash, bash).

No container is needed: the script is plain POSIX sh, so the host's shells run it as a
container would, as a child (docker: under tini) and the stop signal comes from outside.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xae.runtime.command import shell_command

SHELLS = [s for s in ("/bin/dash", "/bin/bash") if shutil.which(s)]
PY = sys.executable


def run(shell: str, line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = [shell, *shell_command(line)[1:]]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=30)


def start(shell: str, line: str, cwd: Path) -> subprocess.Popen[bytes]:
    """As in a container, the supervisor leads its own process group (and session)."""
    return subprocess.Popen([shell, *shell_command(line)[1:]], cwd=cwd, start_new_session=True)


def wait_for_file(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_the_line_is_passed_as_an_argument_not_pasted_into_the_script() -> None:
    argv = shell_command("echo '$(reboot)'; x")
    assert argv[0] == "/bin/sh" and argv[1] == "-c"
    assert argv[-1] == "echo '$(reboot)'; x"
    assert "reboot" not in argv[2]


@pytest.mark.parametrize("shell", SHELLS)
def test_compound_lines_run_every_command(shell: str, tmp_path: Path) -> None:
    result = run(shell, "echo one > a && echo two > b; VAR=x sh -c 'echo $VAR > c'", tmp_path)
    assert result.returncode == 0, result.stderr
    assert [(tmp_path / n).read_text() for n in "abc"] == ["one\n", "two\n", "x\n"]


@pytest.mark.parametrize("shell", SHELLS)
def test_the_exit_status_is_the_lines(shell: str, tmp_path: Path) -> None:
    assert run(shell, "true; exit 3", tmp_path).returncode == 3
    missing = run(shell, "no-such-program-xae --flag", tmp_path)
    assert missing.returncode == 127
    assert "no-such-program-xae" in missing.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_sigterm_reaches_the_app_of_a_compound_line_and_it_may_finish(
    shell: str, tmp_path: Path
) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        "import pathlib, signal, sys, time\n"
        "def stop(*_):\n"
        "    pathlib.Path('stopped').write_text('graceful')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "pathlib.Path('ready').write_text('1')\n"
        "time.sleep(60)\n"
    )
    line = f"echo migrate > m && VAR=x {PY} app.py; echo after > after"
    proc = start(shell, line, tmp_path)
    try:
        wait_for_file(tmp_path / "ready")
        started = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        status = proc.wait(timeout=10)
        elapsed = time.monotonic() - started
    finally:
        proc.kill()
    assert (tmp_path / "stopped").read_text() == "graceful"
    assert not (tmp_path / "after").exists()  # a stopped line does not go on
    assert status == 0
    assert elapsed < 2


@pytest.mark.parametrize("shell", SHELLS)
def test_sigint_stops_the_app_too(shell: str, tmp_path: Path) -> None:
    line = (
        f"true && {PY} -c \"import pathlib,time; pathlib.Path('ready').write_text('1'); "
        'time.sleep(60)"'
    )
    proc = start(shell, line, tmp_path)
    try:
        wait_for_file(tmp_path / "ready")
        os.kill(proc.pid, signal.SIGINT)
        status = proc.wait(timeout=10)
    finally:
        proc.kill()
    assert status == 128 + signal.SIGTERM


@pytest.mark.parametrize("shell", SHELLS)
def test_outside_its_own_process_group_it_signals_only_its_own_line(
    shell: str, tmp_path: Path
) -> None:
    # Started like any child of this test runner: `kill -TERM 0` would hit the runner itself.
    line = f"{PY} -c \"import pathlib,time; pathlib.Path('ready').write_text('1'); time.sleep(1)\""
    proc = subprocess.Popen([shell, *shell_command(line)[1:]], cwd=tmp_path)
    try:
        wait_for_file(tmp_path / "ready")
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
