"""HTTPS end to end, checked with `curl --cacert` as a user would: every app has a certificate
from the local CA, an uploaded certificate is served for its custom domain, `certs:auto` gets
one from a real ACME CA (pebble, which checks the name over HTTP through the router), plain
HTTP redirects when asked, all over HTTP/2, and the router never reloads for any of it.

And the router's hold: an app scaled to zero and marked `--scale-from-zero` is woken by a
request, which is held until the new instance serves it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from tests.certmaker import chain
from tests.e2e.harness import Plane, wait_for

pytestmark = [pytest.mark.e2e]

PAGE = "hello from the xae static fixture"


def curl(
    plane: Plane, host: str, *, cacert: Path | None = None, https: bool = True
) -> tuple[int, str, str, str]:
    """(curl's exit code, HTTP status, HTTP version, body + headers) for `/` of `host`, which
    resolves to the router as DNS would make it."""
    port = plane.tls_port if https else plane.router_port
    scheme = "https" if https else "http"
    args = ["curl", "-sS", "--max-time", "20", "--resolve", f"{host}:{port}:127.0.0.1", "-i"]
    if cacert is not None:
        args += ["--cacert", str(cacert)]
    args += ["-w", "\n%{http_code} %{http_version}", f"{scheme}://{host}:{port}/"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    *body, last = (done.stdout or "\n0 0").rsplit("\n", 1)
    status, _, version = last.partition(" ")
    return done.returncode, status, version, "".join(body) + done.stderr


def router_pids(plane: Plane) -> set[int]:
    """The router's nginx processes (master and workers): a reload would replace the workers."""
    master = int((plane.state_dir / "router" / "nginx.pid").read_text().strip())
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {master, *map(int, children)}


@pytest.fixture
def static_app(plane: Plane, app_source: Callable[[str], Path]) -> str:
    app = plane.new_app("tls")
    plane.deploy(app, app_source("static"))
    return app


def test_every_app_has_https_from_the_local_ca(
    plane: Plane, static_app: str, tmp_path: Path
) -> None:
    ca = tmp_path / "xae-ca.crt"
    ca.write_text(plane.xae("certs:ca").stdout)
    host = f"{static_app}.localhost"
    code, status, version, text = curl(plane, host, cacert=ca)
    assert (code, status, version) == (0, "200", "2"), text
    assert PAGE in text
    # Without the CA, the certificate is not trusted: it really is the local CA's.
    code, _, _, text = curl(plane, host)
    assert code == 60, text  # curl: peer certificate cannot be authenticated


@pytest.mark.backends("docker")
def test_an_uploaded_certificate_is_served_for_its_domain_without_a_reload(
    plane: Plane, static_app: str, tmp_path: Path
) -> None:
    domain = f"www.{static_app}.example.test"
    made = chain([domain])
    (tmp_path / "chain.pem").write_text(made.chain_pem)
    (tmp_path / "key.pem").write_text(made.leaf.key_pem)
    (tmp_path / "root.pem").write_text(made.root.cert_pem)
    before = router_pids(plane)

    plane.xae("domains:add", domain, "--app", static_app)
    plane.xae(
        "certs:add", "--app", static_app,
        "--cert", str(tmp_path / "chain.pem"), "--key", str(tmp_path / "key.pem"),
    )  # fmt: skip
    code, status, version, text = curl(plane, domain, cacert=tmp_path / "root.pem")
    assert (code, status, version) == (0, "200", "2"), text
    assert PAGE in text
    listed = plane.xae_json("certs", "--app", static_app)
    assert [c["names"] for c in listed] == [[domain]]
    assert router_pids(plane) == before

    # Removed: the name falls back to what the router has for no match, which the test CA
    # does not sign.
    plane.xae("certs:remove", str(listed[0]["id"]), "--app", static_app)
    code, _, _, text = curl(plane, domain, cacert=tmp_path / "root.pem")
    assert code == 60, text


@pytest.mark.backends("docker")
def test_certs_auto_gets_a_certificate_from_an_acme_ca(
    plane: Plane, static_app: str, tmp_path: Path
) -> None:
    assert plane.acme is not None
    domain = f"shop.{static_app}.example.test"
    plane.xae("domains:add", domain, "--app", static_app)

    issued = plane.xae("certs:auto", "--app", static_app, timeout=180)
    assert "issued certificate" in issued.stdout and domain in issued.stdout
    [cert] = plane.xae_json("certs", "--app", static_app)
    assert cert["names"] == [domain] and cert["source"] == "acme"
    assert cert["days_left"] >= 80

    roots = tmp_path / "pebble-roots.pem"
    roots.write_bytes(
        b"".join(root.public_bytes(Encoding.PEM) for root in plane.acme.issuing_roots())
    )
    code, status, _, text = curl(plane, domain, cacert=roots)
    assert (code, status) == (0, "200"), text
    assert PAGE in text

    # A wildcard cannot be proven over HTTP: refused before any order, saying what to do.
    other = plane.new_app("tlsw")
    plane.xae("domains:add", f"*.{other}.example.test", "--app", other)
    refused = plane.xae("certs:auto", "--app", other, check=False)
    assert refused.returncode == 1
    assert "domains:add" in refused.stderr
    assert plane.xae_json("certs", "--app", other) == []


@pytest.mark.backends("docker")
def test_plain_http_redirects_to_https_when_asked(plane: Plane, static_app: str) -> None:
    host = f"{static_app}.localhost"
    plane.xae("apps:update", "--app", static_app, "--redirect-https")
    wait_for(lambda: curl(plane, host, https=False)[1] == "308", 10, "plain HTTP to answer 308")
    _, _, _, text = curl(plane, host, https=False)
    assert f"location: https://{host}:{plane.tls_port}/" in text.lower()
    plane.xae("apps:update", "--app", static_app, "--no-redirect-https")
    wait_for(lambda: curl(plane, host, https=False)[1] == "200", 10, "plain HTTP to serve again")


def test_an_app_scaled_to_zero_is_woken_by_a_request(plane: Plane, static_app: str) -> None:
    plane.xae("apps:update", "--app", static_app, "--scale-from-zero")
    plane.xae("ps:scale", "web=0", "--app", static_app)
    wait_for(
        lambda: plane.xae_json("apps:info", static_app)["instances"] == [],
        120,
        "the app to have no instance",
    )

    # The router holds this request while xae starts an instance (the hold lasts 30 s).
    answered = plane.get(static_app, timeout=60)
    assert answered.status_code == 200 and PAGE in answered.text
    ps = plane.xae_json("ps", "--app", static_app)
    formation = {f["type"]: f["quantity"] for f in ps["formation"]}
    assert formation.get("web") == 1
    events = plane.xae_json("audit", "--app", static_app)
    assert any(e["action"] == "app.wake" for e in events)

    # Without the mark, an app at zero answers the 503 page at once.
    plane.xae("apps:update", "--app", static_app, "--no-scale-from-zero")
    plane.xae("ps:scale", "web=0", "--app", static_app)
    wait_for(lambda: plane.get(static_app).status_code == 503, 120, "the app at zero to answer 503")
