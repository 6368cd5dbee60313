"""Rendering the routing table into an nginx config: pure, so checked here without nginx."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from xae.errors import InvalidInput, InvalidName
from xae.router.base import Route
from xae.router.layout import RouterPaths
from xae.router.render import (
    GENERATION_PATH,
    LOG_FORMAT,
    STATUS_PATH,
    RenderOptions,
    read_generation,
    render_config,
)

PATHS = RouterPaths(Path("/srv/xae/router"))


def options(**overrides: object) -> RenderOptions:
    values: dict[str, object] = {
        "paths": PATHS,
        "listen_host": "0.0.0.0",
        "listen_port": 8080,
        "base_domain": "localhost",
        "generation": 7,
    }
    values.update(overrides)
    return RenderOptions(**values)  # type: ignore[arg-type]


def render(*routes: Route, **overrides: object) -> str:
    return render_config(list(routes), options(**overrides))


def block(config: str, opener: str) -> str:
    """The text of the `{ ... }` block that starts with `opener` (no nested-brace pages)."""
    start = config.index(opener)
    depth = 0
    for i in range(config.index("{", start), len(config)):
        if config[i] == "{" and config[i - 1] != "\\":
            depth += 1
        elif config[i] == "}":
            depth -= 1
            if depth == 0:
                return config[start : i + 1]
    raise AssertionError(f"unterminated block {opener!r}")


WEB = Route(
    app="myapp", hosts=["myapp.localhost"], upstreams=["172.18.0.5:5000", "172.18.0.6:5000"]
)


def test_one_upstream_per_app_with_its_servers_and_keepalive() -> None:
    config = render(WEB, Route("other", ["other.localhost"], ["172.19.0.2:5000"]))
    upstream = block(config, "upstream xae-app-myapp ")
    assert "server 172.18.0.5:5000 " in upstream
    assert "server 172.18.0.6:5000 " in upstream
    assert "keepalive 64;" in upstream
    assert "172.19.0.2" not in upstream
    assert config.count("upstream xae-app-") == 2
    server = block(config, "server {\n        listen 0.0.0.0:8080;\n        server_name myapp.")
    assert "proxy_pass http://xae-app-myapp;" in server
    assert 'set $xae_app "myapp";' in server


def test_proxy_settings_keep_upstream_connections_alive_and_forward_client_facts() -> None:
    config = render(WEB)
    for directive in (
        "worker_processes auto;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_set_header Host $http_host;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Forwarded-Host $http_host;",
        "proxy_set_header X-Request-ID $xae_request_id;",
        "add_header X-Request-ID $xae_request_id always;",
        "proxy_next_upstream error timeout http_502;",
        "proxy_next_upstream_tries 3;",
        "proxy_connect_timeout 5s;",
        "proxy_read_timeout 60s;",
    ):
        assert directive in config


def test_request_id_is_the_clients_when_sane_else_nginx_generated() -> None:
    request_id_map = block(render(WEB), "map $http_x_request_id $xae_request_id")
    assert "default $request_id;" in request_id_map
    pattern = re.search(r'"~(\^.*\$)" \$http_x_request_id;', request_id_map)
    assert pattern is not None
    accepts = re.compile(pattern.group(1))
    assert accepts.match("3f2a9c1e-7b1d-4f5e-9a1b-0c2d3e4f5a6b")
    assert not accepts.match('x" injected')
    assert not accepts.match("a" * 129)


def test_access_log_is_buffered_json_in_router_dir() -> None:
    config = render(WEB)
    assert f"access_log {PATHS.access_log} xae_json buffer=64k flush=1s;" in config
    assert "log_format xae_json escape=json" in config
    sample = {
        "$time_iso8601": "2026-01-01T00:00:00+00:00",
        "$host": "myapp.localhost",
        "$xae_app": "myapp",
        "$status": "200",
        "$request_time": "0.002",
        "$upstream_addr": "172.18.0.5:5000",
        "$upstream_response_time": "0.001",
        "$xae_request_id": "abc",
        "$request_method": "GET",
        "$request_uri": "/x",
        "$body_bytes_sent": "12",
        "$remote_addr": "127.0.0.1",
    }
    line = LOG_FORMAT
    for variable in sorted(sample, key=len, reverse=True):
        line = line.replace(variable, sample[variable])
    entry = json.loads(line)
    for field in ("time", "host", "app", "status", "request_time", "upstream_addr",
                  "upstream_response_time", "request_id"):  # fmt: skip
        assert field in entry


def test_unknown_hosts_get_a_default_server_with_a_helpful_404() -> None:
    config = render(WEB, base_domain="apps.example.com")
    default = block(config, "server {\n        listen 0.0.0.0:8080 default_server")
    assert "error_page 404 /__xae/not_found.$xae_page_ext;" in default
    assert "xae apps:create NAME" in default
    assert "xae deploy" in default
    assert "NAME.apps.example.com" in default
    assert "${xae_safe_host}" in default
    assert "default_type text/html;" in default and "default_type text/plain;" in default


def test_probes_are_served_only_on_the_internal_socket_never_on_the_public_listener() -> None:
    config = render(WEB, generation=42)
    assert read_generation(config) == 42
    internal = block(config, f"server {{\n        listen unix:{PATHS.internal_socket};")
    assert 'return 200 "42\\n";' in block(internal, f"location = {GENERATION_PATH}")
    assert "stub_status;" in block(internal, f"location = {STATUS_PATH}")
    public = config.replace(internal, "")
    assert GENERATION_PATH not in public and STATUS_PATH not in public
    assert "stub_status" not in public and "unix:" not in public


@pytest.mark.parametrize("root", ["/srv/x y/router", "/srv/x;y/router", "/" + "r" * 100])
def test_a_socket_path_nginx_cannot_take_is_refused(root: str) -> None:
    with pytest.raises(ValueError, match="control socket path"):
        render(WEB, paths=RouterPaths(Path(root)))


def test_worker_temp_paths_follow_the_layout() -> None:
    config = render(WEB, paths=RouterPaths(PATHS.root, worker_temp=Path("/var/cache/t/k")))
    assert "client_body_temp_path /var/cache/t/k/body;" in config
    assert f"client_body_temp_path {PATHS.root}/tmp/body;" in render(WEB)


def test_app_without_upstreams_answers_503_saying_how_to_scale() -> None:
    config = render(Route("idle", ["idle.localhost"], []))
    assert "upstream xae-app-idle" not in config
    server = block(config, "server {\n        listen 0.0.0.0:8080;\n        server_name idle.")
    assert "return 503;" in server
    assert "no running web instances" in server
    assert "xae ps:scale web=1 --app idle" in server
    assert "proxy_pass" not in server


def test_rendering_is_stable_whatever_the_route_order() -> None:
    other = Route("other", ["other.localhost"], ["172.19.0.2:5000"])
    assert render(WEB, other) == render(other, WEB)


def test_worker_user_is_set_only_when_asked() -> None:
    assert "\nuser " not in render(WEB)
    assert "\nuser nobody nogroup;\n" in render(WEB, user="nobody nogroup")
    with pytest.raises(ValueError):
        render(WEB, user="nobody; include /etc/passwd")


def test_ipv6_listen_and_upstreams_are_bracketed() -> None:
    config = render(
        Route("v6", ["v6.localhost"], ["[fd00::5]:5000", "fd00::6:5000"]), listen_host="::"
    )
    assert "listen [::]:8080 default_server" in config
    assert "server [fd00::5]:5000 " in config
    assert "server [fd00::6]:5000 " in config


def test_long_custom_domains_get_a_hash_bucket_that_fits() -> None:
    label = "a" * 63
    host = ".".join([label, label, label, "b" * 61])
    config = render(Route("long", [host], ["10.0.0.2:80"]))
    bucket = re.search(r"server_names_hash_bucket_size (\d+);", config)
    assert bucket is not None and int(bucket.group(1)) >= len(host) + 16


@pytest.mark.parametrize(
    "host",
    [
        "evil.com; include /etc/passwd",
        "a b.localhost",
        "x{.localhost",
        "$host",
        'q".localhost',
        "under_score.localhost",
        "-lead.localhost",
        "trail-.localhost",
        "",
        "a" * 64 + ".localhost",
        "new\nline.localhost",
    ],
)
def test_host_names_that_could_inject_config_are_refused(host: str) -> None:
    with pytest.raises(InvalidName):
        render(Route("myapp", [host], ["172.18.0.5:5000"]))


def test_host_names_are_lowercased() -> None:
    assert "server_name myapp.example.com;" in render(Route("myapp", ["MyApp.Example.COM"], []))


@pytest.mark.parametrize(
    "upstream",
    ["172.18.0.5", "172.18.0.5:0", "172.18.0.5:70000", "web:5000", "172.18.0.5:80; x", "1.2.3:80"],
)
def test_upstreams_must_be_ip_and_port(upstream: str) -> None:
    with pytest.raises(InvalidInput):
        render(Route("myapp", ["myapp.localhost"], [upstream]))


def test_an_invalid_app_name_is_refused() -> None:
    with pytest.raises(InvalidName):
        render(Route('bad"name', ["x.localhost"], []))


def test_a_host_routes_to_one_app_only() -> None:
    with pytest.raises(InvalidInput, match="claimed by both"):
        render(WEB, Route("other", ["myapp.localhost"], []))


def test_an_app_appears_once() -> None:
    with pytest.raises(InvalidInput, match="twice"):
        render(WEB, WEB)


def test_base_domain_is_validated_too() -> None:
    with pytest.raises(InvalidName):
        render(WEB, base_domain="localhost; evil")
