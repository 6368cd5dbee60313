"""`xae manifest:check`: the same validation a deploy runs, on local files, no server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result


def test_a_valid_manifest_is_summarized_with_its_warnings(
    tmp_path: Path, run: Callable[..., Result]
) -> None:
    (tmp_path / "app.json").write_text(
        json.dumps({"addons": ["heroku-postgresql"], "formation": {"web": {"quantity": 2}}})
    )
    result = run("manifest:check", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "warning: app.json: addons is not supported by xae; ignored" in result.stdout
    assert "app.json is valid: formation for web" in result.stdout


def test_an_invalid_manifest_exits_1_naming_the_key_as_a_deploy_would(
    tmp_path: Path, run: Callable[..., Result]
) -> None:
    (tmp_path / "xae.yaml").write_text("formation:\n  web: {quantity: -1}\n")
    result = run("manifest:check", str(tmp_path))
    assert result.exit_code == 1
    assert (
        "error: xae.yaml: formation.web.quantity: must be ≥ 0, got -1 (invalid_manifest)"
        in result.stderr
    )


def test_a_formation_for_a_type_the_procfile_lacks_is_refused(
    tmp_path: Path, run: Callable[..., Result]
) -> None:
    (tmp_path / "Procfile").write_text("web: python app.py\n")
    (tmp_path / "xae.yml").write_text("formation: {worker: {quantity: 1}}\n")
    result = run("manifest:check", str(tmp_path))
    assert result.exit_code == 1
    assert "xae.yml: formation.worker: the app has no process type worker" in result.stderr


def test_json_output_is_the_normalized_manifest(tmp_path: Path, run: Callable[..., Result]) -> None:
    (tmp_path / "xae.yaml").write_text("web: python app.py\nformation: {web: {size: basic}}\n")
    result = run("manifest:check", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "source": "xae.yaml",
        "manifest": {
            "processes": {"web": "python app.py"},
            "formation": {"web": {"memory": "512M"}},
            "env": {},
            "cron": [],
        },
        "warnings": [],
    }


def test_a_directory_without_a_manifest_says_which_files_xae_reads(
    tmp_path: Path, run: Callable[..., Result]
) -> None:
    result = run("manifest:check", str(tmp_path))
    assert result.exit_code == 1
    assert "has no manifest: xae reads xae.yaml, xae.yml or app.json" in result.stderr
