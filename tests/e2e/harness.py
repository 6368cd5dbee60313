"""End-to-end harness: a whole xae control plane of the tests' own, driven through the CLI.

The plane runs as a separate process with its own state dir, ports and plane name, on the real
Docker engine and a real nginx, so it never touches the xae that `make up` started. Every app a
test creates is destroyed afterwards, and the plane is stopped at the end of the session.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FIXTURES = ROOT / "tests" / "fixtures" / "apps"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll `predicate` until it returns something truthy; after `timeout`, fail naming `what`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@dataclass
class Plane:
    env: dict[str, str]
    state_dir: Path
    api_port: int
    router_port: int
    apps: list[str] = field(default_factory=list)

    def xae(
        self, *args: str, check: bool = True, timeout: float = 600, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(BIN / "xae"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"`xae {' '.join(args)}` exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def xae_json(self, *args: str) -> Any:
        return json.loads(self.xae(*args, "--json").stdout)

    def admin(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "xae-admin"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    def get(self, app: str, path: str = "/", timeout: float = 5.0) -> httpx.Response:
        """A request through the router, as `curl http://APP.localhost:PORT/` sends it."""
        return httpx.get(
            f"http://127.0.0.1:{self.router_port}{path}",
            headers={"Host": f"{app}.localhost"},
            timeout=timeout,
        )

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def token(self) -> str:
        config = Path(self.env["XDG_CONFIG_HOME"]) / "xae" / "config.json"
        token: str = json.loads(config.read_text())["token"]
        return token

    def new_app(self, prefix: str = "t") -> str:
        name = f"{prefix}-{secrets.token_hex(3)}"
        self.xae("apps:create", name)
        self.apps.append(name)
        return name

    def deploy(
        self, app: str, source: Path, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.xae("deploy", str(source), "--app", app, check=check)

    def serving(self, app: str, needle: str) -> bool:
        try:
            response = self.get(app)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and needle in response.text
