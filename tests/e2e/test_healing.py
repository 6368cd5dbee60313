"""Instances that vanish are replaced without the app going down, and apps are fenced off from
each other: on every backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.e2e.harness import Plane, wait_for
from tests.e2e.test_rollout import Load, deployed_flask

pytestmark = pytest.mark.e2e

# Exit codes of the probe below, so a broken probe cannot pass for a blocked connection.
PROBE = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()\n"
    "except (socket.timeout, ConnectionRefusedError, OSError) as e:\n"
    "    print(type(e).__name__, e); sys.exit(3)\n"
    "print('connected')\n"
)


def test_a_deleted_instance_is_replaced_while_the_app_keeps_serving(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app, _ = deployed_flask(plane, app_source, "heal")
    plane.xae("ps:scale", "web=2", "--app", app)
    before = {i["name"] for i in plane.instances(app)}
    assert len(before) == 2
    victim = sorted(before)[0]

    with Load(plane, app, workers=2) as load:
        plane.delete_instance(victim)
        replaced = wait_for(
            lambda: (
                len(names := {i["name"] for i in plane.instances(app)}) == 2
                and victim not in names
                and names
            ),
            timeout=60,
            what=f"a new instance to replace {victim}",
        )
        wait_for(lambda: load.total >= 200, timeout=60, what="200 requests under load")
    assert victim not in replaced
    assert load.failures == []
    assert plane.get(app).status_code == 200


def test_an_instance_cannot_reach_another_apps_instance(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    one, _ = deployed_flask(plane, app_source, "fence")
    other, _ = deployed_flask(plane, app_source, "fenced")
    [client] = plane.instances(one)
    [target] = plane.instances(other)
    host, port = target["address"].rsplit(":", 1)

    # The router (on the host) reaches the target: the address is right and the app listens.
    assert plane.get(other).status_code == 200
    probe = plane.exec(client["name"], "python", "-c", PROBE, host, port)
    assert probe.returncode == 3, f"expected a blocked connection, got: {probe!r}"
