"""End-to-end fixtures: the tests' own control plane (see `harness.py`) and app sources.

Every test that uses `plane` runs once per backend: on docker, and on the local Kubernetes
cluster (`make k8s-up`). A test limited to some backends says so with
`@pytest.mark.backends("docker")`. When the cluster is not up, the kubernetes runs are skipped
with the reason `make test` recorded when it tried to bring the cluster up.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import docker
import pytest
from tests.e2e.harness import (
    BACKENDS,
    BIN,
    CLUES,
    FIXTURES,
    HOOK_RECEIVER_HOST,
    K8S_KUBECONFIG,
    K8S_REGISTRY,
    KUBECTL,
    Plane,
    cluster_unavailable,
    free_port,
)
from tests.pebble import running_pebble

from xae.builder.jail import remove_plane_jail
from xae.runtime.docker.hostwall import HostWall


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "plane" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    backends = list(marker.args) if marker else list(BACKENDS)
    metafunc.parametrize("plane", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def plane(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Plane]:
    backend: str = request.param
    if backend == "kubernetes" and (reason := cluster_unavailable()):
        pytest.skip(f"kubernetes backend not tested: {reason}")
    state = tmp_path_factory.mktemp(f"xae-e2e-{backend}")
    with contextlib.ExitStack() as stack:
        api_port, router_port, tls_port = free_port(), free_port(), free_port()
        name = f"e2e{secrets.token_hex(2)}"
        # An ACME CA whose HTTP-01 checks reach this plane's router (tests/e2e/test_tls.py).
        acme = stack.enter_context(running_pebble(state / "pebble", router_port))
        env = {
            **os.environ,
            "XAE_STATE_DIR": str(state / "state"),
            "XAE_API_PORT": str(api_port),
            "XAE_ROUTER_PORT": str(router_port),
            "XAE_TLS_PORT": str(tls_port),
            "XAE_ACME_DIRECTORY": acme.directory_url,
            "XAE_ACME_CA_BUNDLE": str(acme.ca_file),
            "XAE_PLANE": name,
            "XAE_BACKEND": backend,
            "XAE_DRAIN_SECONDS": "3",
            # The webhook receivers tests start listen here (tests/e2e/test_builds.py); every
            # other address inside the platform stays refused to hooks.
            "XAE_HOOK_ALLOWED_CIDRS": f'["{HOOK_RECEIVER_HOST}/32"]',
            "XAE_PREVIEWS_REAP_INTERVAL": "2",  # idle previews go within seconds
            "XDG_CONFIG_HOME": str(state / "config"),
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
        if backend == "kubernetes":
            env |= {"XAE_KUBECONFIG": str(K8S_KUBECONFIG), "XAE_REGISTRY": K8S_REGISTRY}
            remove_stale_e2e_namespaces()
        env.pop("XAE_TOKEN", None)
        env.pop("XAE_API_URL", None)
        p = Plane(
            env=env,
            state_dir=state / "state",
            api_port=api_port,
            router_port=router_port,
            backend=backend,
            name=name,
            tls_port=tls_port,
            acme=acme,
        )
        p.admin("start")
        p.admin("bootstrap")
        try:
            yield p
        finally:
            for app in p.apps:
                p.xae("apps:destroy", app, "--confirm", app, check=False)
            subprocess.run(
                [str(BIN / "xae-admin"), "stop"], env=env, capture_output=True, timeout=60
            )
            client = docker.from_env(version="auto")
            try:
                remove_plane_jail(client, name)  # the plane's build network and firewall
            finally:
                client.close()
                HostWall.for_plane(name, []).remove()  # the app networks' firewall chains
            if not os.environ.get("XAE_E2E_KEEP"):  # set it to read the plane's logs afterwards
                shutil.rmtree(state, ignore_errors=True)


def remove_stale_e2e_namespaces() -> None:
    """Namespaces of e2e planes from earlier sessions (one session runs at a time, so every
    one found here is stale). A run whose plane died never destroyed its apps; their pods would
    hold the single node's CPU and leave this run's pods Pending."""
    kubectl = [str(KUBECTL), "--kubeconfig", str(K8S_KUBECONFIG)]
    listed = subprocess.run(
        [*kubectl, "get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    stale = [ns for ns in listed.stdout.split() if ns.startswith("xae-e2e")]
    if stale:
        subprocess.run(
            [*kubectl, "delete", "namespace", *stale, "--wait=true", "--timeout=120s"],
            capture_output=True,
            timeout=180,
            check=True,
        )


@pytest.fixture
def app_source(tmp_path: Path) -> Callable[[str], Path]:
    """A private copy of a fixture app, free to edit."""

    def copy(kind: str) -> Path:
        target = tmp_path / kind
        n = 1
        while target.exists():  # a test may need two apps of one kind
            n += 1
            target = tmp_path / f"{kind}-{n}"
        shutil.copytree(FIXTURES / kind, target, symlinks=True)
        return target

    return copy


def _plane_param(item: pytest.Item | None) -> object:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("plane") if callspec is not None else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's clues (`Plane.failure_clues`) go into its report, and to `CLUES`."""
    report: pytest.TestReport = yield
    plane = getattr(item, "funcargs", {}).get("plane")
    if report.when == "call" and report.failed and isinstance(plane, Plane):
        try:
            clues = plane.failure_clues(plane.apps[-3:])
        except Exception as e:  # a clue must never hide the failure itself
            clues = f"-- no clues: {type(e).__name__}: {e}"
        report.sections.append(("xae clues", clues))
        if CLUES:
            with open(CLUES, "a", encoding="utf-8") as f:
                f.write(f"\n==== {item.nodeid}\n{clues}\n")
    return report


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Destroy a plane's apps when a module is done with that plane.

    Tests of one module may share an app (module-scoped fixtures), so apps live until the
    module moves on; keeping them all to the end of the session would fill the machine
    (Docker networks, the single node's CPU requests) long before the suite ends."""
    plane = getattr(item, "funcargs", {}).get("plane")
    if not isinstance(plane, Plane) or not plane.apps:
        return
    same_module = nextitem is not None and nextitem.module is item.module  # type: ignore[attr-defined]
    if same_module and _plane_param(nextitem) == _plane_param(item):
        return
    for app in list(plane.apps):
        plane.xae("apps:destroy", app, "--confirm", app, check=False)
    plane.apps.clear()
