"""The API's boundary: hostile names are refused (422, saying what is allowed, the value
escaped and short) before anything is looked up or changed; bodies over the limit are 413
before they are parsed; a caller over its rate is 429 with `Retry-After`.

The hostile values are those of `tests/unit/domain/test_domain_hostile_names.py`, sent the way
a client sends them: in a JSON body, a path segment or a query parameter.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from tests.unit.fakes import World, deploy

from xae.api.app import create_app

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

if TYPE_CHECKING:
    from httpx2 import Response  # what the test client's type says it returns

HOSTILE = [
    "web;id",
    "web|id",
    "web`id`",
    "web$(id)",
    "web${IFS}",
    "web{",
    "web}",
    "web id",
    "web\nid",
    "web\n",
    "web\rid",
    "web\x00id",
    "..",
    "../web",
    "w" * 5000,
    "w\u0435b",  # Cyrillic 'е'
    "\uff57eb",  # fullwidth 'ｗ'
    "we\u200db",  # zero-width joiner
    "\u202ebew",  # right-to-left override
]
IDS = [ascii(v)[:24] for v in HOSTILE]


def _refused(response: Response, code: str = "invalid_name", status: int = 422) -> str:
    """Assert the standard error body, escaped and short; return its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    assert message.isascii() or "…" in message
    assert all(c.isprintable() for c in message)
    assert len(response.content) < 1500
    return message


def _state(client: TestClient, app: str) -> list[Any]:
    return [client.get(f"/v1/apps{s}").json() for s in ("", f"/{app}", f"/{app}/releases")]


@pytest.mark.parametrize("name", HOSTILE, ids=IDS)
def test_a_hostile_app_name_is_refused_and_creates_nothing(
    world: World, client: TestClient, name: str
) -> None:
    response = client.post("/v1/apps", json={"name": name})
    # Past 100 characters the body's schema refuses it before the name gate sees it.
    message = _refused(response, "invalid_input" if len(name) > 100 else "invalid_name")
    assert "lowercase letters, digits and single dashes" in message or "at most 100" in message
    assert client.get("/v1/apps").json() == []
    assert world.runtime.list_instances() == []


IN_PATH = [(v, i) for v, i in zip(HOSTILE, IDS, strict=True) if "/" not in v and v != ".."]
"""A `/` (even as `%2F`) splits the path: `../web` reaches no route at all (404)."""


@pytest.mark.parametrize("name", [v for v, _ in IN_PATH], ids=[i for _, i in IN_PATH])
def test_a_hostile_app_name_in_a_path_is_refused_on_every_route_before_any_lookup(
    world: World, client: TestClient, shop: str, name: str
) -> None:
    deploy(world.platform, shop, "img:1")
    before = _state(client, shop)
    paths = client.get("/openapi.json").json()["paths"]
    segment = quote(name, safe="")
    for path, operations in paths.items():
        if "{name}" not in path:
            continue
        url = path.replace("{name}", segment).replace("{version}", "v1").replace("{cert_id}", "1")
        url = url.replace("{build_id}", "1").replace("{hook_id}", "1")
        for method in operations:
            response = client.request(method.upper(), url, params={"confirm": shop})
            _refused(response)
    assert _state(client, shop) == before


def test_dot_dot_as_a_path_segment_is_refused(client: TestClient, shop: str) -> None:
    # Percent-encoded, so the client does not fold it into the parent path first.
    _refused(client.get("/v1/apps/%2E%2E/config"))
    _refused(client.get("/v1/apps/%2e%2e"))


@pytest.mark.parametrize("ptype", HOSTILE, ids=IDS)
def test_a_hostile_process_type_is_refused_in_scale_restart_and_logs(
    world: World, client: TestClient, shop: str, ptype: str
) -> None:
    deploy(world.platform, shop, "img:1")
    before = _state(client, shop)
    formation = client.get(f"/v1/apps/{shop}/formation").json()
    scale = client.patch(
        f"/v1/apps/{shop}/formation", json={"updates": [{"type": ptype[:64], "quantity": 2}]}
    )
    rule = "lowercase letters, digits, '-' or '_'"
    assert rule in _refused(scale)
    assert rule in _refused(client.post(f"/v1/apps/{shop}/restart", json={"type": ptype[:64]}))
    assert rule in _refused(client.get(f"/v1/apps/{shop}/logs", params={"process": ptype}))
    assert client.get(f"/v1/apps/{shop}/formation").json() == formation
    assert _state(client, shop) == before


@pytest.mark.parametrize("key", HOSTILE, ids=IDS)
def test_a_hostile_config_key_is_refused_and_makes_no_release(
    world: World, client: TestClient, shop: str, key: str
) -> None:
    deploy(world.platform, shop, "img:1")
    before = _state(client, shop)
    message = _refused(client.patch(f"/v1/apps/{shop}/config", json={key: "1", "OK": "1"}))
    assert "letters, digits and '_'" in message
    assert _state(client, shop) == before
    assert client.get(f"/v1/apps/{shop}/config").json() == {}


VALID_PATHS = ("..", "../web", "web;id", "web$(id)")
"""Valid request paths (RFC 3986): a health check sends them as one, never to a shell or file."""


@pytest.mark.parametrize(
    "value",
    [v for v in HOSTILE if v not in VALID_PATHS],
    ids=[i for v, i in zip(HOSTILE, IDS, strict=True) if v not in VALID_PATHS],
)
def test_a_hostile_health_path_is_refused_and_leaves_the_check_alone(
    client: TestClient, shop: str, value: str
) -> None:
    before = client.get(f"/v1/apps/{shop}").json()["health"]
    _refused(client.patch(f"/v1/apps/{shop}", json={"health_path": f"/{value}"}), "invalid_input")
    assert client.get(f"/v1/apps/{shop}").json()["health"] == before


@pytest.mark.parametrize("image", HOSTILE, ids=IDS)
def test_a_hostile_image_reference_is_refused_before_the_stream(
    world: World, client: TestClient, shop: str, image: str
) -> None:
    _refused(client.post(f"/v1/apps/{shop}/deploys/image", json={"image": image}), "invalid_input")
    assert client.get(f"/v1/apps/{shop}/releases").json() == []
    assert world.runtime.list_instances() == []


@pytest.mark.parametrize(
    "version", ["v1;id", "v1\n", "%2E%2E", "1e3", "v\u0661", "v" + "9" * 9 + "9"]
)
def test_a_hostile_release_version_is_refused(
    world: World, client: TestClient, shop: str, version: str
) -> None:
    deploy(world.platform, shop, "img:1")
    response = client.get(f"/v1/apps/{shop}/releases/{quote(version, safe='%')}")
    assert "write it like v3" in _refused(response, "invalid_input")


def test_an_id_past_the_databases_integers_is_refused_on_every_route(
    world: World, client: TestClient, shop: str
) -> None:
    """SQLite's integers are 64-bit: an id beyond them, looked up as it came, was a 500 (the
    fuzzer found it on `cron-runs/{run_id}`). Every integer in a path is bounded instead."""
    deploy(world.platform, shop, "img:1")
    huge = str(2**65 + 3)
    paths = client.get("/openapi.json").json()["paths"]
    checked = 0
    for path, operations in paths.items():
        for method, operation in operations.items():
            ints = [
                p["name"]
                for p in operation.get("parameters", [])
                if p["in"] == "path" and p["schema"].get("type") == "integer"
            ]
            if not ints:
                continue
            url = path.replace("{name}", shop)
            for param in ints:
                url = url.replace("{" + param + "}", huge)
            response = client.request(method.upper(), url, params={"confirm": shop})
            assert response.status_code == 422, (method, path, response.text)
            assert response.json()["error"]["code"] == "invalid_input", response.text
            checked += 1
    assert checked >= 5  # builds, certs, hooks, cron runs, tokens


def test_an_overlong_confirmation_is_refused_and_the_app_stays(
    client: TestClient, shop: str
) -> None:
    _refused(client.delete(f"/v1/apps/{shop}", params={"confirm": "s" * 100_00}), "invalid_input")
    assert client.get(f"/v1/apps/{shop}").status_code == 200


def test_a_hostile_key_in_a_validation_error_is_escaped_and_cut_short(
    client: TestClient, shop: str
) -> None:
    key = "\u202e\n{$(id)}" + "K" * 1000
    body = {f"{key}{i}": i for i in range(20)}  # numbers: each is a pydantic error at `key`
    message = _refused(client.patch(f"/v1/apps/{shop}/config", json=body), "invalid_input")
    assert "\\u202e\\n{$(id)}KKK" in message
    assert "K" * 100 not in message
    assert "and 10 more problems" in message


# -- body size ---------------------------------------------------------------------------


def _config_body(size: int) -> bytes:
    return json.dumps({"BIG": "x" * size}).encode()


def test_a_body_over_the_limit_is_413_by_its_content_length_and_nothing_changes(
    world: World, client: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    limit = world.platform.settings.max_json_body
    response = client.patch(
        f"/v1/apps/{shop}/config",
        content=_config_body(limit),
        headers={"Content-Type": "application/json"},
    )
    assert "larger than 65536 bytes" in _refused(response, "body_too_large", 413)
    assert response.json()["error"]["details"] == {"max_bytes": limit}
    assert client.get(f"/v1/apps/{shop}/config").json() == {}
    assert [r["version"] for r in client.get(f"/v1/apps/{shop}/releases").json()] == [1]


def test_a_chunked_body_that_grows_past_the_limit_is_413_and_nothing_changes(
    world: World, client: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    body = _config_body(1 << 20)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    response = client.patch(
        f"/v1/apps/{shop}/config", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    _refused(response, "body_too_large", 413)
    assert client.get(f"/v1/apps/{shop}/config").json() == {}
    assert [r["version"] for r in client.get(f"/v1/apps/{shop}/releases").json()] == [1]


def test_a_body_under_the_limit_is_read_as_before(
    world: World, client: TestClient, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    body = {"A": "x" * 30_000, "B": "y" * 30_000}  # each value under its own 32 KiB limit
    response = client.patch(f"/v1/apps/{shop}/config", json=body)
    assert response.status_code == 200
    assert client.get(f"/v1/apps/{shop}/config").json() == body


# The deploy upload is exempt: tests/unit/api/test_api_deploys.py sends a 3 MiB upload through
# it (test_a_source_upload_is_spooled_built_and_released), under its own `max_upload_bytes`.


# -- rate --------------------------------------------------------------------------------


@pytest.fixture
def limited(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A client of an API that allows 1 request per second, 3 at once."""
    monkeypatch.setattr(world.platform.settings, "api_rate", 1.0)
    monkeypatch.setattr(world.platform.settings, "api_burst", 3)
    with TestClient(create_app(world.platform), raise_server_exceptions=False) as client:
        yield client


def test_a_token_over_its_rate_is_429_with_retry_after(world: World, limited: TestClient) -> None:
    alice = {"Authorization": f"Bearer {world.token('alice')}"}
    answers = [limited.get("/v1/apps", headers=alice) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.headers["Retry-After"] == "1"
    message = _refused(refused, "too_many_requests", 429)
    assert "at most 1 per second on average, 3 at once" in message
    assert refused.json()["error"]["details"] == {"retry_after": 1}
    # Another token has its own budget; so has a caller without one (by its address).
    bob = {"Authorization": f"Bearer {world.token('bob')}"}
    assert limited.get("/v1/apps", headers=bob).status_code == 200
    assert limited.get("/healthz").status_code == 200
