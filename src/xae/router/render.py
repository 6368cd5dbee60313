"""Rendering the routing table into one complete nginx config: a pure function, no I/O.

The config is always rendered whole from the table (never patched), so what runs is exactly
what `render_config` returns for the current routes; that is what makes `nginx -t` plus an
atomic swap a safe way to change it. Every value interpolated here has passed
`xae.router.validate` first.

The request path is kept lean on purpose (the router must reach ≥ 0.8× a direct hit):
upstream keepalive, no per-request disk I/O beyond the buffered access log, no regex except the
`X-Request-ID` check, and no `if`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from xae.router import pages
from xae.router.base import Route
from xae.router.layout import SOCKET_PATH_MAX, RouterPaths
from xae.router.validate import validate_host, validate_listen_host, validate_routes

GENERATION_PATH = "/__xae/generation"
STATUS_PATH = "/__xae/nginx_status"
"""xae's own probes. They are served only on the internal unix socket, never on the public
listener: `allow`/`deny` cannot guard them there, because a `return` answers in nginx's rewrite
phase, before the access phase ever runs."""

_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}(?: [a-z_][a-z0-9_-]{0,31})?$")
_GENERATION_LINE = re.compile(r"^# xae-router generation=(\d+)$", re.MULTILINE)
_SOCKET_PATH = re.compile(r"^/[A-Za-z0-9._/+-]+$")

LOG_FORMAT = (
    '{"time":"$time_iso8601","host":"$host","app":"$xae_app","status":$status,'
    '"request_time":$request_time,"upstream_addr":"$upstream_addr",'
    '"upstream_response_time":"$upstream_response_time","request_id":"$xae_request_id",'
    '"method":"$request_method","path":"$request_uri","bytes":$body_bytes_sent,'
    '"remote_addr":"$remote_addr"}'
)
"""One JSON object per line; `escape=json` makes every value safe to parse."""


@dataclass(frozen=True)
class RenderOptions:
    paths: RouterPaths
    listen_host: str
    listen_port: int
    base_domain: str
    generation: int
    user: str | None = None
    """The worker user (`user` directive); only meaningful when nginx starts as root, where
    leaving it out means nginx's default, `nobody`."""


def read_generation(config_text: str) -> int | None:
    """The generation a rendered config carries, or None if it is not one of ours."""
    match = _GENERATION_LINE.search(config_text)
    return int(match.group(1)) if match else None


def upstream_name(app: str) -> str:
    return f"xae-app-{app}"


def _quote(text: str) -> str:
    """A double-quoted nginx string; `$` is refused unless it is a known variable."""
    if "$" in text.replace("${xae_safe_host}", ""):
        raise ValueError("a literal '$' cannot be rendered into an nginx string")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _indent(lines: list[str], level: int) -> list[str]:
    pad = "    " * level
    return [pad + line if line else line for line in lines]


def _next_power_of_two(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def _server_names_hash(routes: Sequence[Route]) -> tuple[int, int]:
    """`server_names_hash_bucket_size` and `_max_size` that fit every host (up to 253 chars).

    nginx's defaults (64 and 512) refuse a long custom domain or a few thousand hosts with
    "could not build server_names_hash" at `nginx -t`; these grow with the table instead.
    """
    hosts = [host for route in routes for host in route.hosts]
    longest = max((len(host) for host in hosts), default=0)
    # One entry is a pointer, a 2-byte length and the name (pointer-aligned), plus a terminator.
    entry = 8 + ((longest + 2 + 7) // 8) * 8
    bucket = max(64, _next_power_of_two(entry + 8))
    max_size = max(512, _next_power_of_two(len(hosts) * 2))
    return bucket, max_size


def _page_locations(name: str, page: pages.Page) -> list[str]:
    lines: list[str] = []
    for ext, mime, body in (("html", "text/html", page.html), ("txt", "text/plain", page.text)):
        lines += [
            f"location = /__xae/{name}.{ext} {{",
            "    internal;",
            f"    default_type {mime};",
            "    charset utf-8;",
            f"    return {page.status} {_quote(body)};",
            "}",
        ]
    return lines


def _internal_server(options: RenderOptions) -> list[str]:
    return [
        "# xae's own probes, on a socket only the control plane can open.",
        "server {",
        f"    listen unix:{options.paths.internal_socket};",
        "    server_name _;",
        '    set $xae_app "-";',
        "    access_log off;",
        f"    location = {GENERATION_PATH} {{",
        "        default_type text/plain;",
        f'        return 200 "{options.generation}\\n";',
        "    }",
        f"    location = {STATUS_PATH} {{",
        "        stub_status;",
        "    }",
        "    location / {",
        "        return 404;",
        "    }",
        "}",
    ]


def _default_server(options: RenderOptions, listen: str) -> list[str]:
    return [
        "# Unknown hosts (and every /__xae/ path: the probes are not on this listener).",
        "server {",
        f"    listen {listen} default_server backlog=4096;",
        "    server_name _;",
        '    set $xae_app "-";',
        "    location / {",
        "        error_page 404 /__xae/not_found.$xae_page_ext;",
        "        return 404;",
        "    }",
        *_indent(_page_locations("not_found", pages.not_found(options.base_domain)), 1),
        "}",
    ]


def _app_server(route: Route, listen: str) -> list[str]:
    head = [
        f"# app {route.app}",
        "server {",
        f"    listen {listen};",
        f"    server_name {' '.join(route.hosts)};",
        f'    set $xae_app "{route.app}";',
    ]
    if not route.upstreams:
        body = [
            "    location / {",
            "        error_page 503 /__xae/no_instances.$xae_page_ext;",
            "        return 503;",
            "    }",
            *_indent(_page_locations("no_instances", pages.no_instances(route.app)), 1),
        ]
    else:
        body = [
            "    location / {",
            f"        proxy_pass http://{upstream_name(route.app)};",
            "        error_page 502 /__xae/bad_gateway.$xae_page_ext;",
            "    }",
            *_indent(_page_locations("bad_gateway", pages.bad_gateway(route.app)), 1),
        ]
    return [*head, *body, "}"]


def _upstream(route: Route) -> list[str]:
    return [
        f"upstream {upstream_name(route.app)} {{",
        *[f"    server {address} max_fails=1 fail_timeout=5s;" for address in route.upstreams],
        "    keepalive 64;",
        "    keepalive_requests 10000;",
        "    keepalive_timeout 60s;",
        "}",
    ]


def render_config(routes: Sequence[Route], options: RenderOptions) -> str:
    """The complete nginx config serving `routes`; raises `InvalidInput` on any bad value."""
    table = validate_routes(routes)
    validate_host(options.base_domain)
    if not 0 < options.listen_port < 65536:
        raise ValueError(f"listen port {options.listen_port} is out of range")
    if options.user is not None and not _USER.match(options.user):
        raise ValueError(f"worker user {options.user!r} is not a valid 'user [group]'")
    socket_path = str(options.paths.internal_socket)
    if not _SOCKET_PATH.match(socket_path) or len(socket_path.encode()) > SOCKET_PATH_MAX:
        raise ValueError(
            f"the router's control socket path {socket_path!r} must be an absolute path of at "
            f"most {SOCKET_PATH_MAX} bytes of letters, digits and ._/+-"
        )
    listen = f"{validate_listen_host(options.listen_host)}:{options.listen_port}"
    paths = options.paths
    temp = paths.temp
    bucket_size, hash_max_size = _server_names_hash(table)

    http: list[str] = [
        "server_tokens off;",
        "sendfile on;",
        "keepalive_timeout 65s;",
        "keepalive_requests 10000;",
        "client_max_body_size 100m;",
        "client_body_buffer_size 128k;",
        f"server_names_hash_bucket_size {bucket_size};",
        f"server_names_hash_max_size {hash_max_size};",
        f"client_body_temp_path {temp / 'body'};",
        f"proxy_temp_path {temp / 'proxy'};",
        f"fastcgi_temp_path {temp / 'fastcgi'};",
        f"uwsgi_temp_path {temp / 'uwsgi'};",
        f"scgi_temp_path {temp / 'scgi'};",
        "types { text/html html; text/plain txt; }",
        "default_type application/octet-stream;",
        "",
        "# Keep a client's request id if it looks like one, else mint one.",
        "map $http_x_request_id $xae_request_id {",
        "    default $request_id;",
        '    "~^[A-Za-z0-9._:@+=/-]{1,128}$" $http_x_request_id;',
        "}",
        "map $http_accept $xae_page_ext {",
        "    default txt;",
        '    "~*text/html" html;',
        "}",
        "# The host as shown on the 404 page: only characters that cannot inject markup.",
        "map $host $xae_safe_host {",
        '    default "this host";',
        '    "~^[a-z0-9.-]{1,253}$" $host;',
        "}",
        "",
        f"log_format xae_json escape=json '{LOG_FORMAT}';",
        f"access_log {paths.access_log} xae_json buffer=64k flush=1s;",
        "",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_set_header Host $http_host;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Forwarded-Host $http_host;",
        "proxy_set_header X-Forwarded-Port $server_port;",
        "proxy_set_header X-Request-ID $xae_request_id;",
        "proxy_connect_timeout 5s;",
        "proxy_send_timeout 60s;",
        "proxy_read_timeout 60s;",
        "proxy_next_upstream error timeout http_502;",
        "proxy_next_upstream_tries 3;",
        "proxy_next_upstream_timeout 15s;",
        "proxy_buffer_size 16k;",
        "proxy_buffers 8 16k;",
        "add_header X-Request-ID $xae_request_id always;",
    ]
    for route in table:
        if route.upstreams:
            http += ["", *_upstream(route)]
    http += ["", *_default_server(options, listen), "", *_internal_server(options)]
    for route in table:
        http += ["", *_app_server(route, listen)]

    main: list[str] = [
        f"# xae-router generation={options.generation}",
        "# Rendered by xae.router from the routing table; edits here are overwritten.",
    ]
    if options.user:
        main.append(f"user {options.user};")
    main += [
        "worker_processes auto;",
        "worker_shutdown_timeout 30s;",
        f"pid {paths.pid};",
        f"error_log {paths.error_log} warn;",
        "",
        "events {",
        "    worker_connections 4096;",
        "}",
        "",
        "http {",
        *_indent(http, 1),
        "}",
        "",
    ]
    return "\n".join(main)
