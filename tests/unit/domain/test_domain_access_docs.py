"""docs/teams.md prints who may do what; it is the table `xae.domain.access` makes, so the
page cannot drift from the rules the API applies."""

from __future__ import annotations

from pathlib import Path

from xae.domain.access import (
    APP_TOKEN_ACTIONS,
    DESCRIPTIONS,
    ROLE_ACTIONS,
    SCOPE_ACTIONS,
    Action,
    Role,
    Scope,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "teams.md"


def access_table() -> str:
    header = ["what", "action", *[str(r) for r in Role], *[f"`{s}` token" for s in Scope]]
    header.append("app token")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for action in Action:
        if action == Action.SELF:
            continue
        roles = ["✓" if action in ROLE_ACTIONS[r] else "" for r in Role]
        scopes = ["✓" if action in SCOPE_ACTIONS[s] else "" for s in Scope]
        app = "✓" if action in APP_TOKEN_ACTIONS else ""
        cells = [DESCRIPTIONS[action], f"`{action}`", *roles, *scopes, app]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def test_the_teams_page_shows_the_access_table_the_api_applies() -> None:
    assert access_table() in DOC.read_text(), f"regenerate the table in {DOC}:\n{access_table()}"
