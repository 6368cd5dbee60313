"""Custom domains end to end, as a user drives them: `xae domains:add` a name of their own, the
real router serves the app at it (requested with that Host header, as a browser whose DNS points
at the router sends it), a wildcard serves every name under it, another app cannot claim it,
a name that would break the router's config is refused with the router still serving, and
`domains:remove` brings back the router's 404 page for the name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.e2e.harness import Plane, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.backends("docker")]

PAGE = "hello from the xae static fixture"


def get(plane: Plane, host: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{plane.router_port}/", headers={"Host": host}, timeout=5.0)


def serves(plane: Plane, host: str) -> bool:
    response = get(plane, host)
    return response.status_code == 200 and PAGE in response.text


def not_served(plane: Plane, host: str) -> bool:
    response = get(plane, host)
    return response.status_code == 404 and "no app is at" in response.text.lower()


def test_a_custom_domain_and_a_wildcard_are_served_until_removed(
    plane: Plane, app_source: Callable[[str], Path]
) -> None:
    app = plane.new_app("dom")
    plane.deploy(app, app_source("static"))
    assert serves(plane, f"{app}.localhost")
    domain = f"www.{app}.example.test"
    wild = f"*.{app}-wild.example.test"
    under = f"shop.{app}-wild.example.test"
    assert not_served(plane, domain) and not_served(plane, under)

    added = plane.xae("domains:add", domain.upper(), "--app", app)
    assert f"served at {domain}" in added.stdout
    wait_for(lambda: serves(plane, domain), 10, f"{domain} to serve {app}")
    plane.xae("domains:add", wild, "--app", app)
    wait_for(lambda: serves(plane, under), 10, f"{under} to serve {app} through {wild}")
    assert serves(plane, f"deep.{under}")  # a wildcard covers every depth below it

    listed = plane.xae_json("domains", "--app", app)
    assert sorted(d["hostname"] for d in listed) == sorted([domain, wild])
    info = plane.xae_json("apps:info", app)
    assert sorted(info["domains"]) == sorted([domain, wild])

    # Another app (here of the same team, so it is named) cannot take the name.
    other = plane.new_app("dom2")
    refused = plane.xae("domains:add", domain, "--app", other, check=False)
    assert refused.returncode == 1
    assert f"already claimed by app {app}" in refused.stderr
    assert plane.xae_json("domains", "--app", other) == []

    # A name that would break the router's config, sent past the CLI's own check: refused,
    # nothing stored, and the router keeps serving every name.
    for hostile in (f"evil.test;\n}} server {{ server_name {domain}", "evil.test\r\nX: 1"):
        response = httpx.post(
            f"{plane.api}/v1/apps/{other}/domains",
            json={"hostname": hostile},
            headers={"Authorization": f"Bearer {plane.token}"},
            timeout=10,
        )
        assert response.status_code == 422, response.text
    assert plane.xae_json("domains", "--app", other) == []
    assert serves(plane, domain) and serves(plane, under) and serves(plane, f"{app}.localhost")

    plane.xae("domains:remove", domain, "--app", app)
    wait_for(lambda: not_served(plane, domain), 10, f"{domain} to answer the 404 page")
    plane.xae("domains:remove", wild, "--app", app)
    wait_for(lambda: not_served(plane, under), 10, f"{under} to answer the 404 page")
    assert serves(plane, f"{app}.localhost")
    assert plane.xae_json("domains", "--app", app) == []

    # The freed name is anyone's again.
    plane.xae("domains:add", domain, "--app", other)
    assert [d["hostname"] for d in plane.xae_json("domains", "--app", other)] == [domain]
