"""The API against its own OpenAPI document, fuzzed by schemathesis: no request, however odd,
gets a 5xx, and every answer (status, content type, headers, body) is one the document declares.

The fuzzer runs against a control plane of its own (docker backend), so the apps it creates,
the configs it sets and the failed logins it sends touch nothing of the other tests' plane.
It is bounded in examples per operation and in time.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
from tests.e2e.harness import BIN, Plane, free_port

from xae.builder.jail import remove_plane_jail

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 60
"""Test cases per operation (and phase): under a minute in all on this machine."""
TIMEOUT = 600  # ~3 min on an idle machine; a loaded one (helpers, builds) needs more

# Excluded: image deploys. A generated image reference (any registry host, any name) is pulled
# by the Docker engine, i.e. it would make requests to arbitrary addresses on the network.
# And revoking a token by id: the fuzzer's own token has a small id that generated integers
# hit, after which every request is answered 401 and nothing past it is tested (revocation is
# tested in tests/e2e/test_authz.py and the unit suite).
# Everything else is fuzzed, source deploys included (a generated body is not an archive, so
# nothing is built).
EXCLUDE_PATHS = r"(/deploys/image|/v1/tokens/\{token_id\})$"

# Not checked: "schema-valid data is accepted". Much of what the API refuses with 422 depends
# on state (an app that is not deployed yet has no formation to scale, a destroy needs
# `confirm=<name>`) or on ceilings from the machine, which no schema expresses.
EXCLUDE_CHECKS = "positive_data_acceptance"


@pytest.fixture(scope="module")
def fuzz_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    state = tmp_path_factory.mktemp("xae-fuzz")
    env = {
        **os.environ,
        "XAE_STATE_DIR": str(state / "state"),
        "XAE_API_PORT": str(free_port()),
        "XAE_ROUTER_PORT": str(free_port()),
        "XAE_TLS_PORT": str(free_port()),
        "XAE_PLANE": f"fuzz{secrets.token_hex(2)}",
        "XAE_BACKEND": "docker",
        "XDG_CONFIG_HOME": str(state / "config"),
        "NO_COLOR": "1",
    }
    env.pop("XAE_TOKEN", None)
    env.pop("XAE_API_URL", None)
    plane = Plane(
        env=env,
        state_dir=state / "state",
        api_port=int(env["XAE_API_PORT"]),
        router_port=int(env["XAE_ROUTER_PORT"]),
        name=env["XAE_PLANE"],
    )
    plane.admin("start")
    plane.admin("bootstrap")
    try:
        yield plane
    finally:
        # Whatever the fuzzer created and did not destroy itself.
        headers = {"Authorization": f"Bearer {plane.token}"}
        for app in httpx.get(f"{plane.api}/v1/apps", headers=headers, timeout=30).json():
            plane.xae("apps:destroy", app["name"], "--confirm", app["name"], check=False)
        subprocess.run([str(BIN / "xae-admin"), "stop"], env=env, capture_output=True, timeout=60)
        client = docker.from_env(version="auto")
        try:
            remove_plane_jail(client, env["XAE_PLANE"])  # the plane's build network, firewall
        finally:
            client.close()
        shutil.rmtree(state, ignore_errors=True)


def known_objects(plane: Plane, directory: Path) -> Path:
    """A schemathesis config that fills half of the `{name}` and `{team}` path parameters with
    an app and a team that exist (made here), so that requests reach past the lookup (a random
    name answers 404) into each operation's own checks."""
    headers = {"Authorization": f"Bearer {plane.token}"}
    suffix = secrets.token_hex(2)
    app, team = f"fuzz-app-{suffix}", f"fuzz-team-{suffix}"
    for path, body in (("/v1/teams", {"name": team}), ("/v1/apps", {"name": app})):
        created = httpx.post(
            f"{plane.api}{path}", json=body, params={"team": team}, headers=headers, timeout=30
        )
        assert created.status_code == 201, created.text
    config = directory / "schemathesis.toml"
    config.write_text(
        f'[dictionaries.apps]\nvalues = ["{app}"]\n'
        f'[dictionaries.teams]\nvalues = ["{team}"]\n'
        "[parameters]\n"
        '"path.name" = { dictionary = "apps", probability = 0.5 }\n'
        '"path.team" = { dictionary = "teams", probability = 0.5 }\n'
        # A body over the API's limit (XAE_MAX_JSON_BODY) is refused with 413 before it is
        # read: a right answer to a body longer than the schema allows (certificate PEMs).
        "[checks.negative_data_rejection]\n"
        'expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", '
        '"422", "428", "429", "5xx"]\n'
    )
    return config


def test_no_request_gets_a_5xx_or_an_answer_the_document_does_not_declare(
    fuzz_plane: Plane, tmp_path: Path
) -> None:
    config = known_objects(fuzz_plane, tmp_path)
    argv = [
        str(BIN / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"{fuzz_plane.api}/openapi.json",
        "--header",
        f"Authorization: Bearer {fuzz_plane.token}",
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDE_CHECKS,
        "--exclude-path-regex",
        EXCLUDE_PATHS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--request-timeout",
        "60",
        "--workers",
        "1",
    ]
    if seed := os.environ.get("XAE_FUZZ_SEED"):  # to replay a run: its output names the seed
        argv += ["--seed", seed]
    result = subprocess.run(
        argv,
        cwd=tmp_path,  # hypothesis keeps its example database in the working directory
        env={**fuzz_plane.env, "NO_COLOR": "1", "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stdout[-20_000:] + result.stderr[-2_000:]
    # The token survived the run (it may revoke tokens, users and teams): every operation was
    # fuzzed with a valid token, not answered 401 from some point on.
    whoami = httpx.get(
        f"{fuzz_plane.api}/v1/auth/whoami",
        headers={"Authorization": f"Bearer {fuzz_plane.token}"},
        timeout=30,
    )
    assert whoami.status_code == 200, whoami.text
    document = httpx.get(f"{fuzz_plane.api}/openapi.json", timeout=30).json()
    operations = [
        (method, path)
        for path, methods in document["paths"].items()
        for method in methods
        if not re.search(EXCLUDE_PATHS, path)
    ]
    tested = re.search(r"Tested: (\d+)", result.stdout)
    assert tested is not None, result.stdout[-5_000:]
    assert int(tested.group(1)) == len(operations)  # every operation but the excluded ones
