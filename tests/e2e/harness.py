"""End-to-end harness: a whole xae control plane of the tests' own, driven through the CLI.

The plane runs as a separate process with its own state dir, ports and plane name, on the real
Docker engine and a real nginx, so it never touches the xae that `make up` started. Every app a
test creates is destroyed afterwards, and the plane is stopped at the end of the session.
"""

from __future__ import annotations

import json
import os
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
from tests.pebble import Pebble

from xae.runtime.kubernetes.manifests import APP as APP_LABEL

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FIXTURES = ROOT / "tests" / "fixtures" / "apps"

BACKENDS = ("docker", "kubernetes")
K8S_STATE = Path(os.environ.get("K8S_STATE_DIR", "/var/lib/xae/k8s"))
K8S_KUBECONFIG = K8S_STATE / "kubeconfig"
K8S_UNAVAILABLE = K8S_STATE / "unavailable"
"""Written by `make test` with the reason when `make k8s-up` failed."""
CLUES = os.environ.get("XAE_TEST_CLUES")
"""Where a failed e2e test appends its clues (`Plane.failure_clues`); `make test` prints the
file when the slow tiers fail, so they reach the end of CI's output."""
K8S_REGISTRY = os.environ.get("K8S_REGISTRY", "127.0.0.1:5000")
KUBECTL = Path(os.environ.get("K8S_CACHE_DIR", "/var/cache/xae/k8s/v1.33.13")) / "bin" / "kubectl"


HOOK_RECEIVER_HOST = "127.0.0.2"
"""Where the tests' webhook receivers listen: the one address the tests' plane allows hooks
to reach inside the platform (`XAE_HOOK_ALLOWED_CIDRS`); the API and 127.0.0.1 stay refused."""


def cluster_unavailable() -> str | None:
    """Why the local cluster cannot be used, or None when its API server is ready."""
    if K8S_UNAVAILABLE.exists():
        return K8S_UNAVAILABLE.read_text().strip() or "`make k8s-up` failed"
    if not K8S_KUBECONFIG.exists() or not KUBECTL.exists():
        return f"no local cluster ({K8S_KUBECONFIG} missing): run `make k8s-up`"
    proc = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(K8S_KUBECONFIG), "get", "--raw", "/readyz"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if proc.returncode != 0:
        return f"the local cluster's API server is not ready: {proc.stderr.strip()[:300]}"
    return None


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
    backend: str = "docker"
    name: str = "e2e"
    apps: list[str] = field(default_factory=list)
    tls_port: int = 0
    acme: Pebble | None = None
    """The ACME CA the plane is configured with (`XAE_ACME_DIRECTORY`)."""

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
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}{self.plane_log_if_down()}"
                f"{self.backend_clues()}"
            )
        return proc

    def backend_clues(self, lines: int = 25) -> str:
        """What the machine saw around a failed command, which the command's own output may
        not say: the kernel's OOM kills, and on Kubernetes the namespace's latest events (a
        probe that failed, a kill, an eviction). Read only when a command failed."""
        clues = []
        dmesg = subprocess.run(["dmesg"], capture_output=True, text=True, check=False).stdout
        kills = [
            line for line in dmesg.splitlines() if "oom-kill:" in line or "Killed process" in line
        ]
        if kills:
            clues.append("-- the kernel's last OOM kills:\n" + "\n".join(kills[-6:]))
        if self.backend == "kubernetes" and K8S_KUBECONFIG.exists():
            got = subprocess.run(
                [
                    str(KUBECTL),
                    "--kubeconfig",
                    str(K8S_KUBECONFIG),
                    "-n",
                    self.namespace,
                    "get",
                    "events",
                    "--sort-by=.lastTimestamp",
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            tail = (got.stdout or got.stderr).splitlines()[-lines:]
            clues.append(f"-- the last events in {self.namespace}:\n" + "\n".join(tail))
        return "".join(f"\n{clue}" for clue in clues)

    def failure_clues(self, apps: list[str], lines: int = 30) -> str:
        """What a failed test leaves for whoever reads CI's output: the backend's clues, and
        per app its objects on Kubernetes and the control plane's last log lines naming it
        (the plane's state dir, logs included, is gone once the session ends)."""
        out = [f"-- {self.backend} plane {self.name}, apps {', '.join(apps) or '(none)'}"]
        log = self.state_dir / "logs" / "xae.log"
        text = log.read_text(errors="replace").splitlines() if log.exists() else []
        for app in apps:
            if self.backend == "kubernetes":
                got = self.kubectl(
                    "-n",
                    self.namespace,
                    "get",
                    "pods,endpointslices",
                    "-o",
                    "wide",
                    "-l",
                    f"{APP_LABEL}={app}",
                    check=False,
                )
                out.append(f"-- objects of {app}:\n{(got.stdout or got.stderr).strip()}")
            named = [line for line in text if app in line][-lines:]
            out.append(f"-- the control plane's log on {app}:\n" + "\n".join(named))
        return "\n".join(out) + self.backend_clues()

    def plane_log_if_down(self, lines: int = 60) -> str:
        """When the control plane is not answering: whether its process lives, and the end of
        its log (a plane that died mid-suite is otherwise a mystery once its state is gone)."""
        try:
            httpx.get(f"{self.api}/healthz", timeout=2)
            return ""
        except httpx.HTTPError as e:
            pid_file = self.state_dir / "xae.pid"
            pid = pid_file.read_text().strip() if pid_file.exists() else "?"
            alive = pid.isdigit() and Path(f"/proc/{pid}").exists()
            log = self.state_dir / "logs" / "xae.log"
            tail = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
            return (
                f"\n-- the control plane does not answer ({type(e).__name__}); pid {pid} "
                f"{'alive' if alive else 'gone'}; the end of {log}:\n" + "\n".join(tail)
            )

    def xae_json(self, *args: str) -> Any:
        return json.loads(self.xae(*args, "--json").stdout)

    def admin(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(BIN / "xae-admin"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0:
            pytest.fail(
                f"`xae-admin {' '.join(args)}` exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

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

    # -- reaching into the backend, as an operator would ----------------------------------

    @property
    def namespace(self) -> str:
        """The Kubernetes namespace of the tests' apps: their team's (`default`, the bootstrap
        admin's)."""
        return f"xae-{self.name}-default"

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(KUBECTL), "--kubeconfig", str(K8S_KUBECONFIG), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"`kubectl {' '.join(args)}` exited {proc.returncode}: {proc.stderr}")
        return proc

    def instances(self, app: str, process: str = "web") -> list[dict[str, Any]]:
        """The app's running instances of `process`, as `xae ps` shows them."""
        ps = self.xae_json("ps", "--app", app)
        return [i for i in ps["instances"] if i["type"] == process and i["state"] == "running"]

    def delete_instance(self, name: str) -> None:
        """Remove one instance behind xae's back: a pod deleted, a container removed."""
        if self.backend == "kubernetes":
            self.kubectl("-n", self.namespace, "delete", "pod", name, "--wait=false")
        else:
            subprocess.run(["docker", "rm", "-f", name], check=True, capture_output=True)

    def exec(self, instance: str, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside an instance (`kubectl exec` / `docker exec`)."""
        if self.backend == "kubernetes":
            return self.kubectl("-n", self.namespace, "exec", instance, "--", *argv, check=False)
        return subprocess.run(
            ["docker", "exec", instance, *argv], capture_output=True, text=True, timeout=60
        )

    def serving(self, app: str, needle: str) -> bool:
        try:
            response = self.get(app)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and needle in response.text
