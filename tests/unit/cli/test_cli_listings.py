"""The look-alike listings (`builds`, `cron`, `cron:runs`, `hooks`, `hooks:deliveries`,
`previews`) through the one helper, `xae.cli.output.listing`: a table of the rows, a line that
says what to do when there are none, the API's rows as they came with `--json`, and text from
the server shown as written, never read as Rich markup."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.unit.cli.cli_fakes import FakeApi
from typer.testing import Result

JOB = {
    "name": "tick",
    "schedule": "*/5 * * * *",
    "zone": "UTC",
    "command": "echo [bold]done[/] [/x]",
    "overlap": "skip",
    "next_run_at": "2026-12-02T03:05:00.123Z",
    "source": "manifest",
}

LISTINGS: list[tuple[tuple[str, ...], str, list[dict[str, Any]], list[str], str]] = [
    (
        ("builds",),
        "/v1/apps/shop/builds",
        [
            {
                "id": 7,
                "status": "succeeded",
                "commit": "1a2b3c4d" * 5,
                "commit_message": "Fix [red]it[/red]",
                "started_by": "ada",
                "started_at": "2026-12-02T03:00:00Z",
                "duration": 75.5,
                "release": 4,
            }
        ],
        ["succeeded", "1a2b3c4: Fix [red]it[/red]", "ada", "1m15.5s", "v4"],
        "shop has no builds yet: deploy it with `xae deploy --app shop`",
    ),
    (
        ("cron",),
        "/v1/apps/shop/cron",
        [JOB],
        ["tick", "echo [bold]done[/] [/x]", "2026-12-02 03:05:00", "manifest"],
        'shop has no cron jobs: add one with `xae cron:add NAME "SCHEDULE" COMMAND --app shop`',
    ),
    (
        ("cron:runs",),
        "/v1/apps/shop/cron-runs",
        [{"id": 3, "job": "tick", "status": "failed", "exit_code": 2, "duration": 1.25}],
        ["tick", "failed", "1.2 s"],
        "no cron runs of shop yet",
    ),
    (
        ("hooks",),
        "/v1/apps/shop/hooks",
        [{"id": 2, "url": "https://ci.example.org/[x]", "events": ["build", "deploy"]}],
        ["https://ci.example.org/[x]", "build,deploy"],
        "shop has no hooks: add one with `xae hooks:add URL --app shop`",
    ),
    (
        ("hooks:deliveries",),
        "/v1/apps/shop/hooks/deliveries",
        [{"hook": 2, "event": "deploy.failed", "attempt": 3, "status_code": 503, "ok": False}],
        ["deploy.failed", "503"],
        "no deliveries for shop yet",
    ),
]


@pytest.mark.parametrize(("args", "path", "rows", "shown", "empty"), LISTINGS)
def test_a_listing_shows_its_rows_as_written_says_what_to_do_when_empty_and_passes_json(
    logged_in: Path,
    fake_api: FakeApi,
    run: Callable[..., Result],
    args: tuple[str, ...],
    path: str,
    rows: list[dict[str, Any]],
    shown: list[str],
    empty: str,
) -> None:
    fake_api.json("GET", path, rows)
    table = run(*args, "--app", "shop")
    assert table.exit_code == 0, table.output
    for text in shown:
        assert text in table.stdout, (text, table.stdout)

    as_json = run(*args, "--app", "shop", "--json")
    assert json.loads(as_json.stdout) == rows

    fake_api.json("GET", path, [])
    none = run(*args, "--app", "shop")
    assert none.exit_code == 0 and " ".join(none.stdout.split()) == empty


def test_previews_list_their_branches_under_the_on_off_line(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    preview = {
        "branch": "feature/x",
        "app": "shop--feature-x",
        "url": "http://shop--feature-x.localhost/",
        "created_at": "2026-12-02T02:00:00Z",
        "last_push_at": "2026-12-02T03:00:00Z",
    }
    fake_api.json(
        "GET",
        "/v1/apps/shop/previews",
        {"enabled": True, "idle_seconds": 259200, "previews": [preview]},
    )
    result = run("previews", "--app", "shop")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "previews are on for shop; idle time 3d"
    assert lines[2].split() == [
        "feature/x",
        "shop--feature-x",
        "http://shop--feature-x.localhost/",
        "2026-12-02",
        "03:00:00",
    ]
