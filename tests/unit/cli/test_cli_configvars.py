"""`xae config*`: local KEY=value checks, request shapes, `--shell`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.unit.cli.cli_fakes import FakeApi
from typer.testing import Result


def test_config_set_patches_values_and_names_the_release(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("PATCH", "/v1/apps/shop/config", {"version": 4})
    result = run("config:set", "DEBUG=1", "DATABASE_URL=postgres://u:p@h/db?a=b", "-a", "shop")
    assert result.exit_code == 0, result.output
    assert fake_api.last_json() == {"DEBUG": "1", "DATABASE_URL": "postgres://u:p@h/db?a=b"}
    assert "now v4" in result.stdout


def test_config_set_rejects_malformed_pairs_without_leaking_values(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    result = run("config:set", "NOEQUALS", "-a", "shop")
    assert result.exit_code == 2
    assert "is not KEY=value" in result.stderr
    bad_key = run("config:set", "1BAD=hunter2", "-a", "shop")
    assert bad_key.exit_code == 2
    assert "config key '1BAD' is not valid" in bad_key.stderr
    assert "hunter2" not in bad_key.stderr
    assert fake_api.requests == []


def test_config_unset_sends_nulls(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("PATCH", "/v1/apps/shop/config", {"version": 5})
    result = run("config:unset", "DEBUG", "OTHER", "-a", "shop")
    assert result.exit_code == 0
    assert fake_api.last_json() == {"DEBUG": None, "OTHER": None}


def test_config_shell_and_get(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("GET", "/v1/apps/shop/config", {"B": "two words", "A": "1"})
    assert run("config", "--shell", "-a", "shop").stdout == "A=1\nB='two words'\n"
    assert run("config:get", "B", "-a", "shop").stdout == "two words\n"
    missing = run("config:get", "C", "-a", "shop")
    assert missing.exit_code == 1
    assert "no config var C" in missing.stderr


def test_a_viewer_sees_the_keys_and_that_the_values_are_hidden(
    logged_in: Path, fake_api: FakeApi, run: Callable[..., Result]
) -> None:
    fake_api.json("GET", "/v1/apps/shop/config", {"DATABASE_URL": None, "DEBUG": None})
    table = run("config", "--app", "shop")
    assert table.exit_code == 0, table.output
    assert "DATABASE_URL" in table.stdout and "None" not in table.stdout
    assert table.stdout.count("hidden: reading values needs the developer role") == 2
    got = run("config:get", "DEBUG", "--app", "shop")
    assert got.exit_code == 1 and got.stdout == ""
    assert "needs the developer role" in got.stderr
    shell = run("config", "--shell", "--app", "shop")
    assert shell.exit_code == 1 and shell.stdout == "" and "hidden" in shell.stderr
