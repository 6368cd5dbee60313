"""The `xae` command: wires every noun's verbs into one Typer app, Heroku style (`apps:create`).

This is the only module that knows the full command list; each noun's module holds its own
commands. Errors are rendered in one place (`XaeGroup.invoke`), so every command fails the
same way: `error: <message> (<code>)` on stderr, exit 1 for API and user errors, 2 for usage.
The CLI is a pure client of the REST API and imports nothing from xae but `xae.domain.names`,
`xae.domain.states`, `xae.domain.terminal` and `xae.domain.access` (pure, no dependencies),
and `xae.domain.manifest` (pure) for `manifest:check`.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from xae.cli import (
    apps,
    audit,
    auth,
    builds,
    certs,
    configvars,
    cron,
    deploy,
    domains,
    gc,
    git,
    hooks,
    logs,
    manifest,
    previews,
    ps,
    releases,
    routes,
    status,
    teams,
    tokens,
    users,
)
from xae.cli.client import Session
from xae.cli.errors import CLIError
from xae.cli.output import render_error


class XaeGroup(TyperGroup):
    """Lists commands in the order they are registered and renders `CLIError`s.

    `ctx` is typed `Any` because the click behind Typer moved (recent Typer vendors its own);
    either context type is accepted here.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CLIError as e:
            render_error(e)
            raise typer.Exit(e.exit_code) from e


app = typer.Typer(
    name="xae",
    cls=XaeGroup,
    help="xae: deploy and run apps on your own machines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(ctx: typer.Context) -> None:
    """xae: deploy and run apps on your own machines."""
    session = ctx.ensure_object(Session)
    ctx.call_on_close(session.close)


_COMMANDS: list[tuple[str, str, Any]] = [
    ("Auth", "login", auth.login),
    ("Auth", "logout", auth.logout),
    ("Auth", "whoami", auth.whoami),
    ("Auth", "tokens", tokens.list_tokens),
    ("Auth", "tokens:create", tokens.create),
    ("Auth", "tokens:revoke", tokens.revoke),
    ("Platform", "status", status.status),
    ("Apps", "apps", apps.list_apps),
    ("Apps", "apps:create", apps.create),
    ("Apps", "apps:info", apps.info),
    ("Apps", "apps:update", apps.update),
    ("Apps", "apps:transfer", apps.transfer),
    ("Apps", "apps:destroy", apps.destroy),
    ("Domains", "domains", domains.list_domains),
    ("Domains", "domains:add", domains.add),
    ("Domains", "domains:remove", domains.remove),
    ("Domains", "routes", routes.routes),
    ("Domains", "routes:split", routes.split),
    ("Teams", "teams", teams.list_teams),
    ("Teams", "teams:create", teams.create),
    ("Teams", "teams:info", teams.info),
    ("Teams", "teams:destroy", teams.destroy),
    ("Teams", "teams:members:add", teams.add_member),
    ("Teams", "teams:members:remove", teams.remove_member),
    ("Users", "users", users.list_users),
    ("Users", "users:create", users.create),
    ("Users", "users:remove", users.remove),
    ("Audit", "audit", audit.audit),
    ("Deploy", "deploy", deploy.deploy),
    ("Deploy", "manifest:check", manifest.check),
    ("Releases", "releases", releases.list_releases),
    ("Releases", "releases:info", releases.info),
    ("Releases", "rollback", releases.rollback),
    ("Config", "config", configvars.show),
    ("Config", "config:get", configvars.get),
    ("Config", "config:set", configvars.set_vars),
    ("Config", "config:unset", configvars.unset),
    ("Processes", "ps", ps.ps),
    ("Processes", "ps:scale", ps.scale),
    ("Processes", "ps:resize", ps.resize),
    ("Processes", "ps:restart", ps.restart),
    ("Logs", "logs", logs.logs),
    ("TLS", "certs", certs.list_certs),
    ("TLS", "certs:add", certs.add),
    ("TLS", "certs:auto", certs.auto),
    ("TLS", "certs:remove", certs.remove),
    ("TLS", "certs:ca", certs.ca),
    ("Cron", "cron", cron.list_jobs),
    ("Cron", "cron:add", cron.add),
    ("Cron", "cron:remove", cron.remove),
    ("Cron", "cron:run", cron.run),
    ("Cron", "cron:runs", cron.runs),
    ("Cron", "cron:logs", cron.logs),
    ("Builds", "builds", builds.list_builds),
    ("Builds", "builds:info", builds.info),
    ("Builds", "builds:logs", builds.logs),
    ("Builds", "builds:cancel", builds.cancel),
    ("Hooks", "hooks", hooks.list_hooks),
    ("Hooks", "hooks:add", hooks.add),
    ("Hooks", "hooks:remove", hooks.remove),
    ("Hooks", "hooks:deliveries", hooks.deliveries),
    ("Git", "git:remote", git.remote),
    ("Git", "git:clone", git.clone),
    ("Git", "git:branch", git.branch),
    ("Git", "git:credential", git.credential),
    ("Platform", "gc", gc.gc),
    ("Previews", "previews", previews.previews),
    ("Previews", "previews:on", previews.on),
    ("Previews", "previews:off", previews.off),
]

for _panel, _name, _function in _COMMANDS:
    app.command(_name, rich_help_panel=_panel)(_function)


def main() -> None:
    """Console entry point (`xae = "xae.cli.main:main"`)."""
    app(prog_name="xae")


if __name__ == "__main__":
    main()
