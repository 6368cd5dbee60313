"""Weighted traffic splits end to end, as a user drives them: two releases whose pages differ,
`xae routes:split` between them, real requests through the real router counted per release,
a sticky split keeping one client (its cookie jar) on one release, `--clear` sending everything
back to the current release with the other release's instances gone, and bad splits refused
with nothing changed."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.harness import Plane, wait_for

pytestmark = [pytest.mark.e2e]

REQUESTS = 2000
TOLERANCE = 5.0
"""Percentage points a release's measured share may differ from its weight."""


def page(text: str) -> str:
    return f"<!doctype html><html><body><h1>{text}</h1></body></html>\n"


def release_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text[:200]
    for release in ("release-one", "release-two", "release-three"):
        if release in response.text:
            return release
    raise AssertionError(f"neither release answered: {response.text[:200]!r}")


def count(plane: Plane, app: str, n: int, *, fresh: bool = False) -> Counter[str]:
    """Which release answered each of `n` requests (keep-alive; a new cookie jar each time
    with `fresh`, as `n` different browsers)."""
    seen: Counter[str] = Counter()
    url = f"http://127.0.0.1:{plane.router_port}/"
    headers = {"Host": f"{app}.localhost"}
    deadline = time.monotonic() + 120
    with httpx.Client(headers=headers, timeout=5.0) as client:
        for _ in range(n):
            assert time.monotonic() < deadline, f"{n} requests took over 120 s"
            if fresh:
                client.cookies.clear()
            seen[release_of(client.get(url))] += 1
    return seen


def routes(plane: Plane, app: str) -> dict[str, Any]:
    info: dict[str, Any] = plane.xae_json("routes", "--app", app)
    return info


def releases_running(plane: Plane, app: str) -> set[int]:
    return {int(i["release"]) for i in plane.instances(app)}


@pytest.fixture
def source(app_source: Callable[[str], Path]) -> Path:
    return app_source("static")


@pytest.fixture
def two_releases(plane: Plane, source: Path) -> str:
    app = plane.new_app("split")
    (source / "index.html").write_text(page("release-one"))
    plane.deploy(app, source)
    (source / "index.html").write_text(page("release-two"))
    plane.deploy(app, source)
    wait_for(lambda: plane.serving(app, "release-two"), 30, f"{app} to serve v2")
    return app


def test_a_split_sends_each_release_its_share_until_cleared(
    plane: Plane, two_releases: str
) -> None:
    app = two_releases
    done = plane.xae("routes:split", "--app", app, "v1=30", "v2=70")
    assert "v1=30% v2=70%" in done.stdout

    info = routes(plane, app)
    assert info["split"] is True and info["current_release"] == 2
    assert [(r["version"], r["weight"], r["instances"]) for r in info["releases"]] == [
        (1, 30, 1),
        (2, 70, 1),
    ]
    assert releases_running(plane, app) == {1, 2}

    seen = count(plane, app, REQUESTS)
    share_one = 100 * seen["release-one"] / REQUESTS
    assert abs(share_one - 30) <= TOLERANCE, seen
    assert seen["release-one"] + seen["release-two"] == REQUESTS

    plane.xae("routes:split", "--app", app, "--clear")
    assert count(plane, app, 200) == Counter({"release-two": 200})
    wait_for(lambda: releases_running(plane, app) == {2}, 30, "v1's instances to go away")
    info = routes(plane, app)
    assert info["split"] is False
    assert [(r["version"], r["weight"]) for r in info["releases"]] == [(2, 100)]


def test_a_sticky_split_keeps_a_client_on_one_release(plane: Plane, two_releases: str) -> None:
    app = two_releases
    plane.xae("routes:split", "--app", app, "v1=50", "v2=50", "--sticky")
    assert routes(plane, app)["sticky"] is True

    # Different browsers (no cookie yet) land on both releases...
    assert set(count(plane, app, 40, fresh=True)) == {"release-one", "release-two"}
    # ...and one browser, with its cookie jar, stays on the release it first got.
    kept = count(plane, app, 100)
    assert len(kept) == 1, kept

    plane.xae("routes:split", "--app", app, "--clear")
    assert count(plane, app, 50) == Counter({"release-two": 50})


def test_a_bad_split_is_refused_and_nothing_changes(plane: Plane, two_releases: str) -> None:
    app = two_releases
    before = routes(plane, app)

    # The CLI checks the rules before sending anything...
    refused = plane.xae("routes:split", "--app", app, "v1=90", "v2=20", check=False)
    assert refused.returncode != 0
    assert "add up to 110 (90+20), not 100" in refused.stderr

    # ...and the API checks them again, and what only it knows.
    api = f"{plane.api}/v1/apps/{app}/split"
    auth = {"Authorization": f"Bearer {plane.token}"}
    bad = httpx.put(
        api,
        json={"releases": [{"version": 1, "weight": 90}, {"version": 2, "weight": 20}]},
        headers=auth,
        timeout=30,
    )
    assert bad.status_code == 422, bad.text
    assert "not 100" in bad.json()["error"]["message"]

    unknown = plane.xae("routes:split", "--app", app, "v2=90", "v9=10", check=False)
    assert unknown.returncode != 0
    assert f"{app} has no release v9" in unknown.stderr

    assert routes(plane, app) == before
    assert releases_running(plane, app) == {2}
    assert count(plane, app, 50) == Counter({"release-two": 50})


def test_a_deploy_ends_the_split_and_the_new_release_gets_every_request(
    plane: Plane, two_releases: str, source: Path
) -> None:
    app = two_releases
    plane.xae("routes:split", "--app", app, "v1=50", "v2=50")
    assert set(count(plane, app, 20)) == {"release-one", "release-two"}

    (source / "index.html").write_text(page("release-three"))
    plane.deploy(app, source)

    assert count(plane, app, 50) == Counter({"release-three": 50})
    assert routes(plane, app)["split"] is False
    wait_for(lambda: releases_running(plane, app) == {3}, 30, "v1's and v2's instances to go")
    [event] = [e for e in plane.xae_json("audit", "--app", app) if e["action"] == "routes.unsplit"]
    assert "v3 became the current release" in str(event["details"])
