"""An app's repository as xae prepares it, with the real git: what it refuses on its own,
before any deploy (a pack over the size cap; a push that did not come through the API)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from xae.codecenter.repos import ensure_repo
from xae.config import Settings

pytestmark = pytest.mark.integration


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.org",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.org",
    }
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def work(tmp_path: Path, size: int) -> Path:
    tree = tmp_path / "work"
    tree.mkdir()
    (tree / "blob.bin").write_bytes(os.urandom(size))  # random: the pack cannot shrink it
    assert git(tree, "init", "-q", "-b", "main").returncode == 0
    assert git(tree, "add", "-A").returncode == 0
    assert git(tree, "commit", "-q", "-m", "big").returncode == 0
    return tree


def test_a_pack_over_the_size_cap_is_refused_by_the_repository(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path / "state", max_upload_bytes=50_000)  # type: ignore[call-arg]
    repo = ensure_repo(settings, "web", "main")
    pushed = git(work(tmp_path, 200_000), "push", str(repo), "main")
    assert pushed.returncode != 0
    assert "pack exceeds maximum allowed size" in pushed.stderr
    assert git(repo, "for-each-ref").stdout == ""
    assert not list((repo / "objects").glob("incoming-*"))  # the quarantine is gone


def test_a_push_that_did_not_come_through_the_api_is_refused_by_the_hook(
    tmp_path: Path,
) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path / "state")  # type: ignore[call-arg]
    repo = ensure_repo(settings, "web", "main")
    pushed = git(work(tmp_path, 100), "push", str(repo), "main")
    assert pushed.returncode != 0
    assert "takes pushes only through xae's API" in pushed.stderr
    assert git(repo, "for-each-ref").stdout == ""


def test_the_hook_and_config_are_xaes_again_on_every_use(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path / "state")  # type: ignore[call-arg]
    repo = ensure_repo(settings, "web", "main")
    hook = repo / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nexit 0\n")
    assert git(repo, "config", "receive.maxInputSize", "0").returncode == 0
    ensure_repo(settings, "web", "release")
    assert "xae.codecenter.hook" in hook.read_text()
    assert git(repo, "config", "receive.maxInputSize").stdout.strip() == str(
        settings.max_upload_bytes
    )
    assert git(repo, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/release"


def test_the_hook_runs_xaes_own_code_without_site_or_a_python_path_from_the_caller(
    tmp_path: Path,
) -> None:
    """It starts with `python -S` (no `site`, which is most of its start-up) and finds the
    package where the API process found it, whatever PYTHONPATH git http-backend passes."""
    settings = Settings(_env_file=None, state_dir=tmp_path / "state")  # type: ignore[call-arg]
    repo = ensure_repo(settings, "web", "main")
    hook = repo / "hooks" / "pre-receive"
    assert " -S -m xae.codecenter.hook" in hook.read_text()
    ran = subprocess.run(
        [str(hook)],
        cwd=repo,
        env={"PATH": os.environ["PATH"]},  # no PYTHONPATH at all
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 1
    assert "takes pushes only through xae's API" in ran.stdout
