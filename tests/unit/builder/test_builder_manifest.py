"""The builder reads the manifest before any build time is spent, through the source-file gate,
settles the process types with it, and runs its build command in the image build as one
argument of `sh -c`, never pasted into a shell string."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.unit.builder.test_builder_build import OK_CHUNKS, FakeAPI, FakeClient, build_image

from xae.builder.build import GENERATED_DOCKERFILE
from xae.builder.manifestfile import finish_plan, read_manifest, with_build_command
from xae.builder.stacks import COPY_APP, RUN_AS_APP
from xae.config import Settings
from xae.domain.manifest_files import parse_xae_yaml
from xae.errors import BuildFailed, InvalidManifest


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    bundle = tmp_path / "ca.crt"
    bundle.write_text("test bundle")
    return Settings(state_dir=tmp_path / "state", ca_bundle=bundle)


def _app(root: Path, files: dict[str, str]) -> Path:
    src = root / "src"
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(text)
    return src


HOSTILE = "echo \"$HOME\" 'x' > built.txt; test -n `id -u` \\\nRUN evil\n]"


def test_the_build_command_is_one_json_argument_of_sh_after_the_code_as_the_app_user() -> None:
    text = with_build_command(f"FROM base\n{COPY_APP}\n{RUN_AS_APP}\n", HOSTILE)
    lines = text.splitlines()
    assert lines[:3] == ["FROM base", COPY_APP, RUN_AS_APP]
    assert len(lines) == 4, "the command stays on one Dockerfile line"
    assert lines[3].startswith("RUN [")
    assert json.loads(lines[3].removeprefix("RUN ")) == ["sh", "-c", HOSTILE]


def test_a_dockerfile_without_user_gets_the_app_user_before_the_command() -> None:
    lines = with_build_command(f"FROM base\n{COPY_APP}", "make").splitlines()
    assert lines[-2:] == [RUN_AS_APP, 'RUN ["sh", "-c", "make"]']


def test_a_stack_build_runs_the_manifest_build_command_last_and_stores_the_manifest(
    tmp_path: Path, settings: Settings
) -> None:
    src = _app(
        tmp_path,
        {
            "requirements.txt": "flask\n",
            "app.py": "",
            "Procfile": "web: python app.py\nrelease: python old.py\n",
            "xae.yaml": "build: {command: python gen.py > built.txt}\nrelease: python migrate.py\n"
            "formation: {web: {quantity: 2}}\nenv: {GREETING: {value: s3cret-default}}\n",
        },
    )
    api = FakeAPI(OK_CHUNKS)
    log: list[str] = []
    built = build_image(FakeClient(api), src, settings, log)

    generated = api.context_at_build[GENERATED_DOCKERFILE].splitlines()
    assert generated[-1] == 'RUN ["sh", "-c", "python gen.py > built.txt"]'
    # After the code is in /app, as the app user (whose USER step may come before the code).
    assert max(generated.index(COPY_APP), generated.index(RUN_AS_APP)) < len(generated) - 1
    assert built.processes == {"web": "python app.py", "release": "python migrate.py"}
    assert built.manifest is not None
    assert built.manifest["formation"] == {"web": {"quantity": 2}}
    assert "xae.yaml: a build command, a release command, formation for web" in "\n".join(log)
    assert "the release command of xae.yaml replaces the Procfile's release line" in "\n".join(log)
    assert not any("s3cret" in line for line in log), "the log shows no value of the manifest"


def test_manifest_processes_take_precedence_over_the_procfile(
    tmp_path: Path, settings: Settings
) -> None:
    src = _app(
        tmp_path,
        {
            "requirements.txt": "",
            "Procfile": "web: python old.py\n",
            "xae.yaml": "processes: {web: python new.py, worker: python w.py}\n",
        },
    )
    log: list[str] = []
    built = build_image(FakeClient(FakeAPI(OK_CHUNKS)), src, settings, log)
    assert built.processes == {"web": "python new.py", "worker": "python w.py"}
    assert "       xae.yaml declares the process types: the Procfile is not used" in log


def test_manifest_web_serves_a_stack_app_that_has_nothing_xae_can_guess(
    tmp_path: Path, settings: Settings
) -> None:
    src = _app(tmp_path, {"requirements.txt": "", "xae.yaml": "web: python -m http.server\n"})
    built = build_image(FakeClient(FakeAPI(OK_CHUNKS)), src, settings)
    assert built.processes == {"web": "python -m http.server"}


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"xae.yaml": "formation: {web: {quantity: -1}}"}, "formation.web.quantity: must be ≥ 0"),
        ({"xae.yaml": "formation: {worker: {quantity: 1}}"}, "no process type worker"),
        (
            {"Dockerfile": "FROM scratch\n", "xae.yaml": "build: {command: make}"},
            "build.command: an app with a Dockerfile is built by its Dockerfile",
        ),
        ({"app.json": '{"formation": {"web": {"quantity": "two"}}}'}, "app.json: formation.web"),
    ],
)
def test_a_bad_manifest_fails_before_the_engine_is_asked_for_anything(
    tmp_path: Path, settings: Settings, files: dict[str, str], message: str
) -> None:
    src = _app(tmp_path, {"requirements.txt": "", "app.py": "", **files})
    api = FakeAPI(OK_CHUNKS)
    with pytest.raises(InvalidManifest) as caught:
        build_image(FakeClient(api), src, settings)
    assert message in caught.value.message
    assert api.build_calls == []


def test_a_manifest_linking_out_of_the_tree_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("web: hunter2\n")
    src = _app(tmp_path, {})
    (src / "xae.yaml").symlink_to(secret)
    with pytest.raises(BuildFailed, match="leads outside it") as caught:
        read_manifest(src, lambda _: None)
    assert "hunter2" not in caught.value.message


def test_app_json_warnings_go_to_the_build_log(tmp_path: Path) -> None:
    src = _app(tmp_path, {"app.json": '{"addons": ["heroku-redis"], "env": {"A": "1"}}'})
    log: list[str] = []
    manifest = read_manifest(src, log.append)
    assert manifest is not None and manifest.env["A"].value == "1"
    assert log == [
        "-----> app.json: 1 config key(s)",
        "       warning: app.json: addons is not supported by xae; ignored",
    ]


def test_finish_plan_keeps_the_procfile_release_line_without_a_manifest_release(
    tmp_path: Path,
) -> None:
    src = _app(tmp_path, {"xae.yaml": "env: {A: b}"})
    manifest = parse_xae_yaml(b"env: {A: b}").manifest
    plan = finish_plan(src, manifest, {"web": "w", "release": "r"}, "python", lambda _: None)
    assert plan == {"web": "w", "release": "r"}
