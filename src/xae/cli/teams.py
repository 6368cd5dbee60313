"""`xae teams`, `teams:create`, `teams:info`, `teams:destroy`, `teams:members:add`,
`teams:members:remove`: the teams that own apps, and who is in them in which role.

Roles are `viewer`, `developer` and `owner` (`docs/teams.md` has what each may do); the API
decides, the CLI only names them. `teams:members:add` also changes a member's role (the API's
PUT sets it either way). Destroying a team asks for its name again, like `apps:destroy`.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from xae.cli import output
from xae.cli.client import api
from xae.cli.errors import CLIError, usage_error
from xae.cli.options import JsonOption, team_name, user_name
from xae.domain.access import Role

TeamArgument = Annotated[str, typer.Argument(metavar="TEAM", help="The team's name.")]
EmailArgument = Annotated[str, typer.Argument(metavar="EMAIL", help="The user's e-mail address.")]
MemberTeam = Annotated[
    str,
    typer.Option("--team", "-t", help="The team (`xae teams` lists yours).", show_default=False),
]


def list_teams(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List your teams and your role in each (admins: every team)."""
    teams: list[dict[str, Any]] = api(ctx).get_all("/v1/teams")
    if as_json:
        output.print_json(teams)
        return
    if not teams:
        output.plain("you are in no team yet: make one with `xae teams:create NAME`")
        return
    table = output.table("team", "your role", "created")
    for team in teams:
        table.add_row(
            str(team.get("name")),
            output.text(team.get("role") or "(admin)"),
            output.when(team.get("created_at")),
        )
    output.show(table)


def create(ctx: typer.Context, name: TeamArgument, as_json: JsonOption = False) -> None:
    """Create a team; you are its owner."""
    team: dict[str, Any] = api(ctx).post("/v1/teams", {"name": team_name(name)})
    if as_json:
        output.print_json(team)
        return
    output.success(f"created team {team.get('name')}; you are its owner")
    output.plain(
        f"add people with: xae teams:members:add EMAIL --team {team.get('name')} --role developer"
    )


def info(ctx: typer.Context, name: TeamArgument, as_json: JsonOption = False) -> None:
    """Show a team: its members with their roles, and its apps."""
    team: dict[str, Any] = api(ctx).get(f"/v1/teams/{team_name(name)}")
    if as_json:
        output.print_json(team)
        return
    apps = team.get("apps") or []
    output.key_values(
        [
            ("team", team.get("name")),
            ("your role", team.get("role") or "(admin)"),
            ("created", output.when(team.get("created_at"))),
            ("apps", ", ".join(str(a) for a in apps) or None),
        ]
    )
    output.plain("")
    table = output.table("member", "role")
    for member in team.get("members") or []:
        table.add_row(str(member.get("user")), output.text(member.get("role")))
    output.show(table)


def destroy(
    ctx: typer.Context,
    name: TeamArgument,
    confirm: Annotated[
        str | None,
        typer.Option("--confirm", help="The team's name again, to confirm; needed without a TTY."),
    ] = None,
) -> None:
    """Destroy a team (it must have no apps left: destroy or transfer them first)."""
    target = team_name(name)
    if confirm is None:
        if not sys.stdin.isatty():
            raise usage_error(f"destroying team {target} is irreversible: pass --confirm {target}")
        confirm = str(typer.prompt(f"this destroys team {target}; type its name"))
    if confirm != target:
        raise CLIError(
            f"confirmation {confirm!r} does not match {target!r}; nothing was destroyed",
            code="confirmation_mismatch",
        )
    api(ctx).delete(f"/v1/teams/{target}")
    output.success(f"destroyed team {target}")


def add_member(
    ctx: typer.Context,
    email: EmailArgument,
    team: MemberTeam,
    role: Annotated[
        Role, typer.Option("--role", "-r", help="viewer, developer or owner.")
    ] = Role.DEVELOPER,
    as_json: JsonOption = False,
) -> None:
    """Add a user to a team in a role, or change their role."""
    member: dict[str, Any] = api(ctx).put(
        f"/v1/teams/{team_name(team)}/members/{user_name(email)}", {"role": role.value}
    )
    if as_json:
        output.print_json(member)
        return
    output.success(f"{member.get('user')} is a {member.get('role')} of team {team}")


def remove_member(ctx: typer.Context, email: EmailArgument, team: MemberTeam) -> None:
    """Remove a user from a team (their tokens no longer reach its apps)."""
    api(ctx).delete(f"/v1/teams/{team_name(team)}/members/{user_name(email)}")
    output.success(f"removed {email} from team {team}")
