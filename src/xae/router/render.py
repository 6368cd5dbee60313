"""The router's nginx config: static, rendered once, never carrying the routing table.

Routes change at run time through the Lua module (`lua/xae_router.lua`, fed over the private
control socket by `xae.router.control`), so this config changes only when something global
does (the listen address, the worker user, an xae upgrade that changes the Lua): only then is
nginx reloaded. A pure function, no I/O. Every value interpolated here is validated first.

The request path stays lean (the router must keep ≥ 0.8× a direct hit): one shared-dict lookup
per request, a cached decode per app and worker, upstream keepalive through `balancer_by_lua`,
the buffered access log, no regex except the `X-Request-ID` check.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from xae.router import pages
from xae.router.layout import SOCKET_PATH_MAX, RouterPaths
from xae.router.validate import validate_host, validate_listen_host

GENERATION_PATH = "/__xae/generation"
STATUS_PATH = "/__xae/nginx_status"
CONFIG_PATH = "/__xae/config"
ROUTES_PATH = "/__xae/routes"
WAKE_PATH = "/__xae/wake"
CERTIFICATES_PATH = "/__xae/certificates"
STREAM_LOCATION = "@xae_stream"
"""xae's own endpoints. They are served only on the internal unix socket, never on the public
listener: the generation of the routing table, nginx's counters, the id of the config nginx
runs (to see a reload in effect), the routing table itself (GET to read, POST to change), and
the apps that held requests wait for (a long poll), and the TLS certificates (POST to set;
GET answers names, hosts and chain digests, never a key)."""

MODULES_DIR = "/usr/lib/nginx/modules"
"""Debian's `libnginx-mod-http-lua` (and the `ndk` module it needs) install their `.so` here."""
MODULES = ("ndk_http_module.so", "ngx_http_lua_module.so")

SHARED_DICT_SIZE = "64m"
"""The routing table in shared memory: ~0.5 kB per app, so room for far more than 10,000 apps."""

MAX_BODY_CAP = "1g"
"""nginx's own bound on any request body, chunked ones included; a route's `max_body` (or the
default, `xae_router.lua`'s `default_max_body`) is enforced below it from Content-Length."""

_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}(?: [a-z_][a-z0-9_-]{0,31})?$")
_UPSTREAM = re.compile(r"^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$")
_CONFIG_LINE = re.compile(r"^# xae-router config=([0-9a-f]{16})$", re.MULTILINE)
_SOCKET_PATH = re.compile(r"^/[A-Za-z0-9._/+-]+$")
_CONFIG_ID = "@@config-id@@"

LOG_FORMAT = (
    '{"time":"$time_iso8601","host":"$host","app":"$xae_app","release":"$xae_release",'
    '"status":$status,"request_time":$request_time,"upstream_addr":"$upstream_addr",'
    '"upstream_response_time":"$upstream_response_time","request_id":"$xae_request_id",'
    '"method":"$request_method","path":"$request_uri","bytes":$body_bytes_sent,'
    '"remote_addr":"$remote_addr"}'
)
"""One JSON object per line; `escape=json` makes every value safe to parse."""


def lua_source() -> str:
    """The Lua module nginx loads (shipped inside the xae package)."""
    return resources.files("xae.router").joinpath("lua/xae_router.lua").read_text()


@dataclass(frozen=True)
class RenderOptions:
    paths: RouterPaths
    listen_host: str
    listen_port: int
    base_domain: str
    user: str | None = None
    """The worker user (`user` directive); only meaningful when nginx starts as root, where
    leaving it out means nginx's default, `nobody`."""
    read_timeout: int = 60
    """Seconds to wait for an app's response when its route does not say."""
    default_max_body: int = 100 * 1024 * 1024
    """Largest request body when a route does not say (bytes)."""
    hold_timeout: int = 30
    """Seconds a request for a waking app is held before the 503 page."""
    hold_queue: int = 100
    """Requests held per waking app; more get the 503 page at once."""
    tls_port: int | None = None
    """The HTTPS listener's port (`redirect_https` routes redirect there); None: no HTTPS."""
    acme_upstream: str | None = None
    """`ip:port` of the xae API, which answers ACME HTTP-01 checks: with it, the plain-HTTP
    listener hands `/.well-known/acme-challenge/` on every host there (before any redirect);
    None (automatic certificates off): apps get that path like any other."""


def read_config_id(config_text: str) -> str | None:
    """The id a rendered config carries, or None if it is not one of ours."""
    match = _CONFIG_LINE.search(config_text)
    return match.group(1) if match else None


def _quote(text: str) -> str:
    """A double-quoted nginx string; `$` is refused unless it is a known variable."""
    if "$" in text.replace("${xae_safe_host}", "").replace("${xae_app}", ""):
        raise ValueError("a literal '$' cannot be rendered into an nginx string")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _indent(lines: list[str], level: int) -> list[str]:
    pad = "    " * level
    return [pad + line if line else line for line in lines]


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
        "# xae's own endpoints, on a socket only the control plane can open.",
        "server {",
        f"    listen unix:{options.paths.internal_socket};",
        "    server_name _;",
        "    access_log off;",
        "    client_max_body_size 64m;",
        "    client_body_buffer_size 64m;",
        f"    location = {GENERATION_PATH} {{",
        '        content_by_lua_block { require("xae_router").control_generation() }',
        "    }",
        f"    location = {CONFIG_PATH} {{",
        "        default_type text/plain;",
        f'        return 200 "{_CONFIG_ID}\\n";',
        "    }",
        f"    location = {ROUTES_PATH} {{",
        '        content_by_lua_block { require("xae_router").control_routes() }',
        "    }",
        f"    location = {CERTIFICATES_PATH} {{",
        '        content_by_lua_block { require("xae_router").control_certificates() }',
        "    }",
        f"    location = {WAKE_PATH} {{",
        '        content_by_lua_block { require("xae_router").control_wake() }',
        "    }",
        f"    location = {STATUS_PATH} {{",
        "        stub_status;",
        "    }",
        "    location / {",
        "        return 404;",
        "    }",
        "}",
    ]


def _app_locations(options: RenderOptions) -> list[str]:
    # `$xae_app` is set in `location /` (not per server): an error page is an internal
    # redirect, which runs the server's rewrite phase again but keeps the variables' values.
    def proxied(opener: str, streaming: bool) -> list[str]:
        return [
            f"{opener} {{",
            '    set $xae_app "-";',
            '    set $xae_release "-";',
            f'    access_by_lua_block {{ require("xae_router").access({str(streaming).lower()}) }}',
            '    header_filter_by_lua_block { require("xae_router").header_filter() }',
            "    proxy_pass http://xae_balancer;",
            *(["    proxy_buffering off;"] if streaming else []),
            "    error_page 404 /__xae/not_found.$xae_page_ext;",
            "    error_page 503 /__xae/no_instances.$xae_page_ext;",
            "    error_page 502 /__xae/bad_gateway.$xae_page_ext;",
            "    error_page 413 /__xae/too_large.$xae_page_ext;",
            "    error_page 504 /__xae/timed_out.$xae_page_ext;",
            "}",
        ]

    # Responses are buffered (a slow client never holds an app's worker), except a request
    # that asks for an event stream: `access` sends it to `@xae_stream`, which passes each
    # event on as it comes. Any other response streams when the app says
    # `X-Accel-Buffering: no`.
    return [
        *proxied("location /", streaming=False),
        *proxied(f"location {STREAM_LOCATION}", streaming=True),
        *_page_locations("not_found", pages.not_found(options.base_domain)),
        *_page_locations("no_instances", pages.no_instances("${xae_app}")),
        *_page_locations("bad_gateway", pages.bad_gateway("${xae_app}")),
        *_page_locations("too_large", pages.too_large("${xae_app}")),
        *_page_locations("timed_out", pages.timed_out("${xae_app}")),
    ]


def _acme_location(upstream: str | None) -> list[str]:
    if upstream is None:
        return []
    if not _UPSTREAM.match(upstream):
        raise ValueError(f"the ACME upstream {upstream!r} is not an ip:port")
    return [
        "# ACME HTTP-01 checks of any host go to xae's API (xae.control.acme).",
        "location ^~ /.well-known/acme-challenge/ {",
        f"    proxy_pass http://{upstream};",
        "    proxy_set_header Host $host;",
        "}",
    ]


def _public_server(options: RenderOptions, listen: str) -> list[str]:
    return [
        "# Every host: the Lua module maps it to an app (or the 404/503 page).",
        "server {",
        f"    listen {listen} default_server backlog=4096;",
        "    server_name _;",
        *_indent(_acme_location(options.acme_upstream), 1),
        *_indent(_app_locations(options), 1),
        "}",
    ]


MOZILLA_INTERMEDIATE_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)
"""Mozilla's "intermediate" TLS 1.2 suites (the DHE ones left out: they would need dhparams);
TLS 1.3 suites are OpenSSL's defaults, as the profile says."""


def _tls_server(options: RenderOptions, listen: str) -> list[str]:
    paths = options.paths
    return [
        "# HTTPS: the certificate is chosen by SNI in Lua (exact name, then one-level wildcard);",
        "# the placeholder below names no host and is what a client without a match gets.",
        "server {",
        f"    listen {listen} ssl http2 default_server backlog=4096;",
        "    server_name _;",
        f"    ssl_certificate {paths.placeholder_cert};",
        f"    ssl_certificate_key {paths.placeholder_key};",
        '    ssl_certificate_by_lua_block { require("xae_router").certificate() }',
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        f"    ssl_ciphers {MOZILLA_INTERMEDIATE_CIPHERS};",
        "    ssl_prefer_server_ciphers off;",
        "    ssl_session_cache shared:xae_tls:10m;",
        "    ssl_session_timeout 1d;",
        "    ssl_session_tickets off;",
        *_indent(_app_locations(options), 1),
        "}",
    ]


def _lua_init(options: RenderOptions) -> list[str]:
    module = options.paths.lua_module
    return [
        "init_by_lua_block {",
        f'    local xae = assert(loadfile("{module}"))()',
        f"    xae.read_timeout = {int(options.read_timeout)}",
        f"    xae.default_max_body = {int(options.default_max_body)}",
        f"    xae.hold_timeout = {int(options.hold_timeout)}",
        f"    xae.hold_queue = {int(options.hold_queue)}",
        f"    xae.tls_port = {int(options.tls_port) if options.tls_port else 'nil'}",
        '    package.loaded["xae_router"] = xae',
        "}",
    ]


def render_config(options: RenderOptions) -> str:
    """The complete nginx config; raises `InvalidInput`/`ValueError` on any bad value."""
    validate_host(options.base_domain)
    if not 0 < options.listen_port < 65536:
        raise ValueError(f"listen port {options.listen_port} is out of range")
    if options.user is not None and not _USER.match(options.user):
        raise ValueError(f"worker user {options.user!r} is not a valid 'user [group]'")
    for path in (
        options.paths.internal_socket,
        options.paths.lua_module,
        options.paths.placeholder_cert,
        options.paths.placeholder_key,
    ):
        text = str(path)
        if not _SOCKET_PATH.match(text) or len(text.encode()) > SOCKET_PATH_MAX:
            raise ValueError(
                f"the router's control socket path {text!r} must be an absolute path of at "
                f"most {SOCKET_PATH_MAX} bytes of letters, digits and ._/+-"
            )
    for name, value, low, high in (
        ("read timeout", options.read_timeout, 1, 86400),
        ("default max body", options.default_max_body, 1, 1 << 30),
        ("hold timeout", options.hold_timeout, 1, 3600),
        ("hold queue", options.hold_queue, 1, 100000),
    ):
        if not low <= value <= high:
            raise ValueError(f"router {name} {value} is out of range ({low}-{high})")
    if options.tls_port is not None and not 0 < options.tls_port < 65536:
        raise ValueError(f"TLS port {options.tls_port} is out of range")
    listen = f"{validate_listen_host(options.listen_host)}:{options.listen_port}"
    paths = options.paths
    temp = paths.temp

    http: list[str] = [
        "server_tokens off;",
        "sendfile on;",
        "keepalive_timeout 65s;",
        "keepalive_requests 10000;",
        f"client_max_body_size {MAX_BODY_CAP};",
        "client_body_buffer_size 128k;",
        f"client_body_temp_path {temp / 'body'};",
        f"proxy_temp_path {temp / 'proxy'};",
        f"fastcgi_temp_path {temp / 'fastcgi'};",
        f"uwsgi_temp_path {temp / 'uwsgi'};",
        f"scgi_temp_path {temp / 'scgi'};",
        "types { text/html html; text/plain txt; }",
        "default_type application/octet-stream;",
        "",
        f"lua_shared_dict xae_routes {SHARED_DICT_SIZE};",
        *_lua_init(options),
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
        "# WebSockets: pass an Upgrade on; everything else keeps the upstream connection alive.",
        "map $http_upgrade $xae_connection {",
        '    default "";',
        '    "~." upgrade;',
        "}",
        "",
        f"log_format xae_json escape=json '{LOG_FORMAT}';",
        f"access_log {paths.access_log} xae_json buffer=64k flush=1s;",
        "",
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $xae_connection;",
        "proxy_set_header Host $http_host;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "# The client's own X-Forwarded-* (and Forwarded, and the scheme hints some frameworks",
        "# read) are not trusted: the router is the edge.",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Forwarded-Host $http_host;",
        "proxy_set_header X-Forwarded-Port $server_port;",
        'proxy_set_header Forwarded "";',
        'proxy_set_header X-Forwarded-Ssl "";',
        'proxy_set_header X-Forwarded-Scheme "";',
        "proxy_set_header X-Request-ID $xae_request_id;",
        "proxy_connect_timeout 5s;",
        "proxy_send_timeout 60s;",
        f"proxy_read_timeout {int(options.read_timeout)}s;",
        "proxy_next_upstream error timeout http_502;",
        "proxy_next_upstream_tries 3;",
        "proxy_next_upstream_timeout 15s;",
        "proxy_buffer_size 16k;",
        "proxy_buffers 8 16k;",
        "add_header X-Request-ID $xae_request_id always;",
        "",
        "# One upstream for every app: the Lua balancer picks the peer per request.",
        "upstream xae_balancer {",
        "    server 0.0.0.1;",
        '    balancer_by_lua_block { require("xae_router").balance() }',
        "    keepalive 256;",
        "    keepalive_requests 10000;",
        "    keepalive_timeout 60s;",
        "}",
        "",
        *_public_server(options, listen),
        "",
        *(
            _tls_server(options, f"{validate_listen_host(options.listen_host)}:{options.tls_port}")
            if options.tls_port
            else []
        ),
        "",
        *_internal_server(options),
    ]

    lua_digest = hashlib.sha256(lua_source().encode()).hexdigest()[:16]
    main: list[str] = [
        f"# xae-router config={_CONFIG_ID}",
        "# Rendered by xae.router; edits here are overwritten. Routes are not in this file:",
        "# they live in the xae_routes shared dict, fed over the internal socket.",
        f"# lua={lua_digest}",
        *[f"load_module {MODULES_DIR}/{module};" for module in MODULES],
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
    text = "\n".join(main)
    config_id = hashlib.sha256(text.encode()).hexdigest()[:16]
    return text.replace(_CONFIG_ID, config_id)
