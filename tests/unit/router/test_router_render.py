"""Rendering the router's static nginx config: pure, so checked here without nginx."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from xae.errors import InvalidInput, InvalidName
from xae.router.base import Route
from xae.router.layout import RouterPaths
from xae.router.render import (
    CONFIG_PATH,
    GENERATION_PATH,
    LOG_FORMAT,
    ROUTES_PATH,
    STATUS_PATH,
    STREAM_LOCATION,
    RenderOptions,
    lua_source,
    read_config_id,
    render_config,
)
from xae.router.validate import validate_routes

PATHS = RouterPaths(Path("/srv/xae/router"))


def options(**overrides: object) -> RenderOptions:
    values: dict[str, object] = {
        "paths": PATHS,
        "listen_host": "0.0.0.0",
        "listen_port": 8080,
        "base_domain": "localhost",
    }
    values.update(overrides)
    return RenderOptions(**values)  # type: ignore[arg-type]


def render(**overrides: object) -> str:
    return render_config(options(**overrides))


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


def test_one_dynamic_upstream_with_the_lua_balancer_and_keepalive() -> None:
    config = render()
    upstream = block(config, "upstream xae_balancer ")
    assert 'balancer_by_lua_block { require("xae_router").balance() }' in upstream
    assert upstream.index("balancer_by_lua_block") < upstream.index("keepalive 256;")
    assert len(re.findall(r"^\s*upstream \S+ {", config, re.MULTILINE)) == 1
    assert "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;" in config
    assert f'loadfile("{PATHS.lua_module}")' in config
    assert "lua_shared_dict xae_routes 64m;" in config


def test_the_config_has_no_route_in_it_and_an_id_that_follows_its_text() -> None:
    config = render()
    config_id = read_config_id(config)
    assert config_id is not None and re.fullmatch(r"[0-9a-f]{16}", config_id)
    assert render() == config
    assert read_config_id(render(listen_port=8081)) != config_id
    assert "server_name _;" in config and config.count("server {") == 2


def test_proxy_settings_keep_upstream_connections_alive_and_forward_client_facts() -> None:
    config = render()
    for directive in (
        "worker_processes auto;",
        "proxy_http_version 1.1;",
        "proxy_set_header Connection $xae_connection;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Host $http_host;",
        "proxy_set_header X-Forwarded-For $remote_addr;",
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
    request_id_map = block(render(), "map $http_x_request_id $xae_request_id")
    assert "default $request_id;" in request_id_map
    pattern = re.search(r'"~(\^.*\$)" \$http_x_request_id;', request_id_map)
    assert pattern is not None
    accepts = re.compile(pattern.group(1))
    assert accepts.match("3f2a9c1e-7b1d-4f5e-9a1b-0c2d3e4f5a6b")
    assert not accepts.match('x" injected')
    assert not accepts.match("a" * 129)


def test_access_log_is_buffered_json_in_router_dir() -> None:
    config = render()
    assert f"access_log {PATHS.access_log} xae_json buffer=64k flush=1s;" in config
    assert "log_format xae_json escape=json" in config
    sample = {
        "$time_iso8601": "2026-01-01T00:00:00+00:00",
        "$host": "myapp.localhost",
        "$xae_app": "myapp",
        "$xae_release": "v3",
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
    for field in ("time", "host", "app", "release", "status", "request_time", "upstream_addr",
                  "upstream_response_time", "request_id"):  # fmt: skip
        assert field in entry


def test_unknown_hosts_get_a_helpful_404_and_apps_without_instances_a_503() -> None:
    config = render(base_domain="apps.example.com")
    public = block(config, "server {\n        listen 0.0.0.0:8080 default_server")
    assert "error_page 404 /__xae/not_found.$xae_page_ext;" in public
    assert "error_page 503 /__xae/no_instances.$xae_page_ext;" in public
    assert "xae apps:create NAME" in public
    assert "xae deploy" in public
    assert "NAME.apps.example.com" in public
    assert "${xae_safe_host}" in public
    assert "xae ps:scale web=1 --app ${xae_app}" in public
    assert "default_type text/html;" in public and "default_type text/plain;" in public


def test_probes_and_the_routing_table_are_only_on_the_internal_socket() -> None:
    config = render()
    internal = block(config, f"server {{\n        listen unix:{PATHS.internal_socket};")
    assert "control_generation()" in block(internal, f"location = {GENERATION_PATH}")
    assert "control_routes()" in block(internal, f"location = {ROUTES_PATH}")
    assert f'return 200 "{read_config_id(config)}\\n";' in block(
        internal, f"location = {CONFIG_PATH}"
    )
    assert "stub_status;" in block(internal, f"location = {STATUS_PATH}")
    public = config.replace(internal, "")
    for path in (GENERATION_PATH, STATUS_PATH, ROUTES_PATH, CONFIG_PATH):
        assert path not in public
    assert "stub_status" not in public and "unix:" not in public
    assert "control_routes" not in public


@pytest.mark.parametrize("root", ["/srv/x y/router", "/srv/x;y/router", "/" + "r" * 100])
def test_a_socket_path_nginx_cannot_take_is_refused(root: str) -> None:
    with pytest.raises(ValueError, match="control socket path"):
        render(paths=RouterPaths(Path(root)))


def test_worker_temp_paths_follow_the_layout() -> None:
    config = render(paths=RouterPaths(PATHS.root, worker_temp=Path("/var/cache/t/k")))
    assert "client_body_temp_path /var/cache/t/k/body;" in config
    assert f"client_body_temp_path {PATHS.root}/tmp/body;" in render()


def test_worker_user_is_set_only_when_asked() -> None:
    assert "\nuser " not in render()
    assert "\nuser nobody nogroup;\n" in render(user="nobody nogroup")
    with pytest.raises(ValueError):
        render(user="nobody; include /etc/passwd")


def test_ipv6_listen_is_bracketed() -> None:
    assert "listen [::]:8080 default_server" in render(listen_host="::")


@pytest.mark.parametrize(
    ("name", "value"),
    [("read_timeout", 0), ("default_max_body", 0), ("hold_timeout", 10**6), ("hold_queue", 0)],
)
def test_global_limits_out_of_range_are_refused(name: str, value: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        render(**{name: value})


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
        validate_routes([Route("myapp", [host], ["172.18.0.5:5000"])])


def test_host_names_are_lowercased() -> None:
    (route,) = validate_routes([Route("myapp", ["MyApp.Example.COM"], [])])
    assert route.hosts == ["myapp.example.com"]


@pytest.mark.parametrize(
    "upstream",
    ["172.18.0.5", "172.18.0.5:0", "172.18.0.5:70000", "web:5000", "172.18.0.5:80; x", "1.2.3:80"],
)
def test_upstreams_must_be_ip_and_port(upstream: str) -> None:
    with pytest.raises(InvalidInput):
        validate_routes([Route("myapp", ["myapp.localhost"], [upstream])])


def test_an_invalid_app_name_is_refused() -> None:
    with pytest.raises(InvalidName):
        validate_routes([Route('bad"name', ["x.localhost"], [])])


def test_a_host_routes_to_one_app_only() -> None:
    with pytest.raises(InvalidInput, match="claimed by both"):
        validate_routes([WEB, Route("other", ["myapp.localhost"], [])])


def test_an_app_appears_once() -> None:
    with pytest.raises(InvalidInput, match="twice"):
        validate_routes([WEB, WEB])


def test_base_domain_is_validated_too() -> None:
    with pytest.raises(InvalidName):
        render(base_domain="localhost; evil")


def test_event_streams_are_passed_on_unbuffered_and_everything_else_buffered() -> None:
    config = render(tls_port=8443)
    for server in (block(config, "server {\n        listen 0.0.0.0:8080"),
                   block(config, "server {\n        listen 0.0.0.0:8443")):  # fmt: skip
        buffered = block(server, "location / ")
        assert 'require("xae_router").access(false)' in buffered
        assert "proxy_buffering" not in buffered
        streaming = block(server, f"location {STREAM_LOCATION} ")
        assert 'require("xae_router").access(true)' in streaming
        assert "proxy_buffering off;" in streaming
        assert "proxy_pass http://xae_balancer;" in streaming
        for location in (buffered, streaming):
            for status, page in ((404, "not_found"), (503, "no_instances"), (502, "bad_gateway"),
                                 (413, "too_large"), (504, "timed_out")):  # fmt: skip
                assert f"error_page {status} /__xae/{page}.$xae_page_ext;" in location
    assert f'ngx.exec("{STREAM_LOCATION}")' in lua_source()


def test_the_clients_forwarding_claims_are_dropped() -> None:
    config = render()
    for header in ("Forwarded", "X-Forwarded-Ssl", "X-Forwarded-Scheme"):
        assert f'proxy_set_header {header} "";' in config


def test_the_limit_pages_say_which_setting_to_change() -> None:
    config = render()
    too_large = block(config, "location = /__xae/too_large.txt")
    assert "return 413" in too_large
    assert "xae apps:update --max-body 50M --app ${xae_app}" in too_large
    timed_out = block(config, "location = /__xae/timed_out.html")
    assert "return 504" in timed_out
    assert "xae apps:update --read-timeout 120 --app ${xae_app}" in timed_out
