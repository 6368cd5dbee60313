"""End-to-end fixtures: the tests' own control plane (see `harness.py`) and app sources."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.e2e.harness import BIN, FIXTURES, Plane, free_port


@pytest.fixture(scope="session")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    state = tmp_path_factory.mktemp("xae-e2e")
    api_port, router_port = free_port(), free_port()
    env = {
        **os.environ,
        "XAE_STATE_DIR": str(state / "state"),
        "XAE_API_PORT": str(api_port),
        "XAE_ROUTER_PORT": str(router_port),
        "XAE_PLANE": f"e2e{secrets.token_hex(2)}",
        "XAE_DRAIN_SECONDS": "3",
        "XDG_CONFIG_HOME": str(state / "config"),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    env.pop("XAE_TOKEN", None)
    env.pop("XAE_API_URL", None)
    p = Plane(env=env, state_dir=state / "state", api_port=api_port, router_port=router_port)
    p.admin("start")
    p.admin("bootstrap")
    try:
        yield p
    finally:
        for app in p.apps:
            p.xae("apps:destroy", app, "--confirm", app, check=False)
        subprocess.run([str(BIN / "xae-admin"), "stop"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def app_source(tmp_path: Path) -> Callable[[str], Path]:
    """A private copy of a fixture app, free to edit."""

    def copy(kind: str) -> Path:
        target = tmp_path / kind
        shutil.copytree(FIXTURES / kind, target, symlinks=True)
        return target

    return copy
