"""The App Router layer: every user request enters here and goes to a healthy app instance.

Public surface: the `Route` table and `Router` Protocol (`xae.router.base`), the real nginx
implementation `NginxRouter`, and the pure `render_config` it uses.
"""

from xae.router.base import Route, Router, RouterStatus
from xae.router.nginx import NginxRouter
from xae.router.render import RenderOptions, render_config

__all__ = ["NginxRouter", "RenderOptions", "Route", "Router", "RouterStatus", "render_config"]
