"""Ceilings and concurrency, for real: what a tenant asks beyond the machine is refused with the
numbers, huge numbers are refused rather than crashing the API, a process cannot fill the disk
through /tmp, and parallel changes of one app are neither lost nor answered with 500s."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from tests.e2e.harness import FIXTURES, Plane

pytestmark = pytest.mark.e2e

TMP_BYTES = 64 * 1024**2
"""The default size of an instance's /tmp (`XAE_TMP_SIZE`)."""


def api(plane: Plane, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(
        method,
        f"{plane.api}{path}",
        headers={"Authorization": f"Bearer {plane.token}"},
        timeout=300,
        **kwargs,
    )


@pytest.fixture(scope="module")
def static_app(plane: Plane, tmp_path_factory: pytest.TempPathFactory) -> str:
    source = tmp_path_factory.mktemp("static") / "app"
    shutil.copytree(FIXTURES / "static", source)
    app = plane.new_app("lim")
    plane.deploy(app, source)
    return app


@pytest.mark.backends("docker")
def test_a_resize_beyond_the_machine_is_refused_with_the_numbers(
    plane: Plane, static_app: str
) -> None:
    result = plane.xae("ps:resize", "web", "--memory", "100000G", "--app", static_app, check=False)
    assert result.returncode == 1
    assert "memory '100000G' is more than the maximum of" in result.stderr
    assert "per instance (this machine has" in result.stderr

    cpus = str((os.cpu_count() or 1) + 1)
    result = plane.xae("ps:resize", "web", "--cpus", cpus, "--app", static_app, check=False)
    assert result.returncode == 1
    assert f"cpus {cpus} is more than the maximum of {os.cpu_count()} per instance" in (
        result.stderr
    )

    [web] = [
        f for f in plane.xae_json("ps", "--app", static_app)["formation"] if f["type"] == "web"
    ]
    assert web["memory"] == "512M"


@pytest.mark.backends("docker")
@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "formation",
            {"updates": [{"type": "web", "memory": "99999999999999999999G"}]},
            "more than the maximum of",
        ),
        (
            "formation",
            {"updates": [{"type": "web", "quantity": 99999999999999999999}]},
            "less than or equal to",
        ),
        ("formation", {"updates": [{"type": "web", "quantity": 1000}]}, "would run 1000 instances"),
        ("rollback", {"version": 99999999999999999999}, "less than or equal to"),
        ("rollback", {"version": True}, "valid integer"),
    ],
)
def test_huge_or_mistyped_numbers_are_422_and_change_nothing(
    plane: Plane, static_app: str, path: str, body: dict[str, Any], message: str
) -> None:
    before = plane.xae_json("releases", "--app", static_app)
    method = "PATCH" if path == "formation" else "POST"
    response = api(plane, method, f"/v1/apps/{static_app}/{path}", json=body)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]
    assert plane.xae_json("releases", "--app", static_app) == before


def test_four_parallel_config_sets_are_all_acknowledged_and_all_kept(
    plane: Plane, static_app: str
) -> None:
    keys = [f"PARALLEL_{n}" for n in range(4)]

    def set_one(key: str) -> httpx.Response:
        return api(plane, "PATCH", f"/v1/apps/{static_app}/config", json={key: key.lower()})

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(set_one, keys))

    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    versions = sorted(r.json()["version"] for r in responses)
    assert len(set(versions)) == 4
    config = plane.xae_json("config", "--app", static_app)
    assert {k: config.get(k) for k in keys} == {k: k.lower() for k in keys}
    current = plane.xae_json("apps:info", static_app)["release"]
    assert current == versions[-1]
    [release] = [
        r for r in plane.xae_json("releases", "--app", static_app) if r["version"] == current
    ]
    assert set(keys) <= set(release["config_keys"])
    assert release["status"] == "succeeded"
    plane.xae("config:unset", *keys, "--app", static_app)


@pytest.mark.backends("docker")
def test_eight_parallel_creates_of_one_name_give_one_201_and_seven_409(plane: Plane) -> None:
    name = f"race-{plane.name}"[:30]

    def create(_: int) -> httpx.Response:
        return api(plane, "POST", "/v1/apps", json={"name": name})

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(create, range(8)))
    plane.apps.append(name)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7, [r.text for r in responses]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "already_exists"
    }
    assert [a["name"] for a in plane.xae_json("apps")].count(name) == 1


def test_a_process_cannot_write_past_its_tmp_bound(plane: Plane, static_app: str) -> None:
    [instance] = plane.instances(static_app)[:1]
    try:
        result = plane.exec(
            instance["name"],
            "dd",
            "if=/dev/zero",
            "of=/tmp/fill",
            "bs=1M",
            f"count={TMP_BYTES // 1024**2 + 16}",
        )
        assert result.returncode != 0
        assert "No space left on device" in result.stderr
        size = plane.exec(instance["name"], "stat", "-c", "%s", "/tmp/fill")
        assert int(size.stdout) <= TMP_BYTES
    finally:
        plane.exec(instance["name"], "rm", "-f", "/tmp/fill")
