"""The state dir is made private, and an install an older xae left readable is tightened."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.unit.fakes import make_settings

from xae.api.statedir import restrict_umask, secure_state_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_new_state_dir_is_created_0700(tmp_path: Path) -> None:
    state = tmp_path / "new" / "state"
    assert secure_state_dir(make_settings(state)) == []
    assert mode(state) == 0o700


def test_an_older_install_is_tightened_and_its_password_file_removed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    for d in ("", "logs", "router", "builds", "builds/app/src", "k8s"):
        (state / d).mkdir(mode=0o755, parents=True, exist_ok=True)
        (state / d).chmod(0o755)
    files = [
        "xae.db", "xae.db-wal", "xae.db-shm", "xae.pid", "logs/xae.log",
        "router/nginx.conf", "router/access.log", "router/error.log", "router/routes.json",
    ]  # fmt: skip
    for name in [*files, "admin-password", "builds/app/src/app.py", "k8s/kubeconfig"]:
        (state / name).write_text("x")
        (state / name).chmod(0o644)

    notices = secure_state_dir(make_settings(state))

    assert mode(state) == 0o700
    for name in files:
        assert mode(state / name) == 0o600, name
    for name in ("logs", "router", "builds"):
        assert mode(state / name) == 0o700, name
    assert not (state / "admin-password").exists()
    assert len(notices) == 1 and "admin-password" in notices[0]
    assert "reset-password" in notices[0]
    # An uploaded tree keeps its modes (they become the image's); the cluster's files are
    # not xae's to change.
    assert mode(state / "builds/app/src/app.py") == 0o644
    assert mode(state / "k8s/kubeconfig") == 0o644


def test_the_umask_makes_new_files_private(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        restrict_umask()
        (tmp_path / "new.log").write_text("x")
        (tmp_path / "newdir").mkdir()
    finally:
        os.umask(previous)
    assert mode(tmp_path / "new.log") == 0o600
    assert mode(tmp_path / "newdir") == 0o700
