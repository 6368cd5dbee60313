"""The router's own pages: unknown host (404), no instances (503), app down (502), a body over
the app's limit (413), no answer within the app's read timeout (504).

These are the first thing a user sees when a deploy is missing or broken, so each says what is
wrong and the command that fixes it. Browsers get HTML, curl and scripts get two lines of text
(chosen by the Accept header in the rendered config).

The text is rendered into nginx `return` strings, so it must never contain `$` except the
`${xae_safe_host}` variable (a host already reduced to `[a-z0-9.-]` by a map), and every
interpolated value here (app name, base domain) has been validated before it gets here.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:42rem;margin:4rem auto;padding:0 1rem;"
    "color:#1d1d1f;line-height:1.5}h1{font-size:1.6rem}code,pre{background:#f3f3f5;"
    "border-radius:4px}code{padding:.1rem .3rem}pre{padding:.7rem 1rem}"
    "small{color:#777}"
)


@dataclass(frozen=True)
class Page:
    status: int
    html: str
    text: str


def _html(title: str, heading: str, body: str, status: int) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_STYLE}</style></head>\n"
        f"<body><h1>{heading}</h1>\n{body}\n"
        f"<p><small>xae router &middot; {status}</small></p></body></html>\n"
    )


def not_found(base_domain: str) -> Page:
    """For a host no app serves; `${xae_safe_host}` is filled in by nginx."""
    domain = html.escape(base_domain)
    return Page(
        status=404,
        html=_html(
            "No app here",
            "No app is at ${xae_safe_host}",
            "<p>This xae router has no app for that host name. "
            f"Apps are served at <code>NAME.{domain}</code>.</p>\n"
            "<p>To deploy one:</p>\n<pre><code>xae apps:create NAME\nxae deploy</code></pre>",
            404,
        ),
        text=(
            "404: no app is at ${xae_safe_host}.\n"
            f"Apps are served at NAME.{base_domain}; to deploy one run "
            "`xae apps:create NAME` then `xae deploy`.\n"
        ),
    )


def no_instances(app: str) -> Page:
    """For an app that is routed but has no healthy web instance."""
    name = html.escape(app)
    return Page(
        status=503,
        html=_html(
            f"{name}: no running web instances",
            f"App <code>{name}</code> has no running web instances",
            "<p>Its hosts are routed, but no <code>web</code> process is up and healthy.</p>\n"
            "<p>See what runs:</p>\n"
            f"<pre><code>xae ps --app {name}</code></pre>\n"
            "<p>If it has a <code>web</code> process scaled to 0, start one:</p>\n"
            f"<pre><code>xae ps:scale web=1 --app {name}</code></pre>\n"
            "<p>If it has no <code>web</code> process, add one to its Procfile "
            "(<code>web: &lt;a command serving HTTP on the port in PORT&gt;</code>) and deploy "
            "again.</p>",
            503,
        ),
        text=(
            f"503: app {app} has no running web instances.\n"
            f"See what runs with `xae ps --app {app}`. If its web process is scaled to 0, run "
            f"`xae ps:scale web=1 --app {app}`; if it has none, add `web: <a command serving "
            "HTTP on the port in PORT>` to its Procfile and deploy again.\n"
        ),
    )


def bad_gateway(app: str) -> Page:
    """For an app whose instances refused or broke the connection (after retries)."""
    name = html.escape(app)
    return Page(
        status=502,
        html=_html(
            f"{name}: not answering",
            f"App <code>{name}</code> did not answer",
            "<p>Its web instances refused the connection or closed it without a response.</p>\n"
            f"<pre><code>xae logs --app {name}\nxae ps --app {name}</code></pre>",
            502,
        ),
        text=(
            f"502: app {app} did not answer.\n"
            f"See `xae logs --app {app}` and `xae ps --app {app}`.\n"
        ),
    )


def too_large(app: str) -> Page:
    """For a request body over the app's limit (`--max-body`, or the router's default)."""
    name = html.escape(app)
    return Page(
        status=413,
        html=_html(
            f"{name}: request too large",
            f"The request body is larger than app <code>{name}</code> accepts",
            "<p>Send a smaller body, or raise the app's limit:</p>\n"
            f"<pre><code>xae apps:update --max-body 50M --app {name}</code></pre>",
            413,
        ),
        text=(
            f"413: the request body is larger than app {app} accepts.\n"
            f"Send a smaller body, or raise the limit with "
            f"`xae apps:update --max-body 50M --app {app}`.\n"
        ),
    )


def timed_out(app: str) -> Page:
    """For an app that did not answer within its read timeout (`--read-timeout`)."""
    name = html.escape(app)
    return Page(
        status=504,
        html=_html(
            f"{name}: no answer in time",
            f"App <code>{name}</code> did not answer in time",
            "<p>It took longer than its read timeout to send a response.</p>\n"
            f"<pre><code>xae logs --app {name}\n"
            f"xae apps:update --read-timeout 120 --app {name}</code></pre>",
            504,
        ),
        text=(
            f"504: app {app} did not answer in time.\n"
            f"See `xae logs --app {app}`; to wait longer, run "
            f"`xae apps:update --read-timeout 120 --app {app}`.\n"
        ),
    )
