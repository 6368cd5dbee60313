"""The manifest schema: xae.yaml is strict (a typo is an error naming the key), app.json is
mapped for compatibility (what xae does not support is a warning), and no error quotes a
string value of the file (a config default or a command may be a secret)."""

from __future__ import annotations

import json

import pytest

from xae.domain.manifest import (
    MAX_MANIFEST_BYTES,
    Manifest,
    check_fits,
    check_schedule,
    stored_health,
)
from xae.domain.manifest_files import find_manifest, parse_app_json, parse_xae_yaml
from xae.errors import InvalidManifest

FULL = b"""
build:
  command: |
    echo building
    python make_assets.py
release: python migrate.py
web: gunicorn app:app
processes:
  worker: python worker.py
formation:
  web: {quantity: 2, memory: 512M, cpus: 0.5}
  worker: {quantity: 1, size: standard-2x}
healthcheck: {path: /health, timeout: 2, attempts: 30}
env:
  GREETING: hello
  SECRET_KEY: {required: true, description: signs the sessions}
  SESSION_SALT: {generator: secret}
cron:
  - {name: tick, schedule: "*/5 * * * *", command: python tick.py}
  - {name: report, schedule: "@daily", command: python report.py, zone: Europe/Paris,
     overlap: allow}
postdeploy: python seed.py
"""


def refused(data: bytes, name: str = "xae.yaml") -> str:
    with pytest.raises(InvalidManifest) as caught:
        parse_xae_yaml(data, name)
    return caught.value.message


def test_a_full_xae_yaml_is_read_into_one_normalized_manifest() -> None:
    parsed = parse_xae_yaml(FULL)
    m = parsed.manifest
    assert parsed.source == "xae.yaml" and parsed.warnings == []
    assert m.build is not None and m.build.command.splitlines() == [
        "echo building",
        "python make_assets.py",
    ]
    assert m.release == "python migrate.py"
    assert m.web is None  # folded into processes
    assert m.processes == {"web": "gunicorn app:app", "worker": "python worker.py"}
    assert m.formation["web"].quantity == 2 and m.formation["web"].memory == "512M"
    assert m.formation["web"].cpus == 0.5
    assert m.formation["worker"].memory == "1G"  # a Heroku size, as memory
    assert m.healthcheck is not None and m.healthcheck.path == "/health"
    assert m.env["GREETING"].value == "hello" and not m.env["GREETING"].required
    assert m.env["SECRET_KEY"].required and m.env["SECRET_KEY"].value is None
    assert m.env["SESSION_SALT"].generator == "secret"
    assert [(c.name, c.schedule, c.zone, c.overlap) for c in m.cron] == [
        ("tick", "*/5 * * * *", "UTC", "skip"),
        ("report", "@daily", "Europe/Paris", "allow"),
    ]
    assert m.postdeploy == "python seed.py"


def test_the_stored_form_reads_back_to_the_same_manifest() -> None:
    m = parse_xae_yaml(FULL).manifest
    stored = json.loads(json.dumps(m.model_dump(mode="json", exclude_none=True)))
    assert Manifest.model_validate(stored) == m
    health = stored_health(stored)
    assert health is not None and (health.path, health.timeout, health.attempts) == (
        "/health",
        2.0,
        30,
    )
    assert stored_health(None) is None and stored_health({}) is None


def test_an_empty_xae_yaml_is_an_empty_manifest() -> None:
    assert parse_xae_yaml(b"").manifest == Manifest()
    assert parse_xae_yaml(b"# nothing yet\n").manifest.summary() == "nothing"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"formation: {web: {quantity: -1}}",
            "xae.yaml: formation.web.quantity: must be ≥ 0, got -1",
        ),
        (b"formation: {web: {quantity: 1000}}", "formation.web.quantity: must be ≤ 100, got 1000"),
        (b"formation: {web: {quantity: '2'}}", "formation.web.quantity: must be a whole number"),
        (b"formation: {web: {quantity: 1.5}}", "formation.web.quantity: must be a whole number"),
        (b"formation: {web: {memory: lots}}", "formation.web.memory: is not a memory size"),
        (b"formation: {web: {cpus: 100}}", "formation.web.cpus: must be between 0.01 and 64"),
        (b"formation: {web: {size: huge}}", "formation.web: size is neither a memory size"),
        (
            b"formation: {web: {size: 1G, memory: 1G}}",
            "formation.web: give either size or memory",
        ),
        (b"formation: {web: {quantty: 1}}", "formation.web.quantty: unknown key (the keys"),
        (b"formation: {Web!: {quantity: 1}}", "is not a process type name"),
        (b"formaton: {}", "xae.yaml: formaton: unknown key (the keys here are build, release"),
        (b"build: {cmd: make}", "build.cmd: unknown key (the keys here are command)"),
        (b"build: {command: '  '}", "build.command: is empty"),
        (b"build: make", "build: must be a mapping"),
        (b"release: ''", "release: the command is empty"),
        (b"release: [a, b]", "release: must be a string"),
        (b'web: "a\\nb"', "web: the command contains a line break"),
        (b"web: a\nprocesses: {web: b}", "web is given twice"),
        (b"processes: {release: x}", "give the release command as the top-level `release:`"),
        (b"processes: {Bad Type: x}", "a process type must be lowercase"),
        (b"processes: {worker: ''}", "worker: the command is empty"),
        (b"healthcheck: {path: health}", "healthcheck.path: the health check path must start"),
        (b"healthcheck: {path: /h, timeout: 0}", "the health check timeout must be between"),
        (b"healthcheck: {timeout: 2}", "healthcheck.path: is required"),
        (b"env: {PORT: x}", "config key 'PORT' is reserved by xae"),
        (b"env: {1BAD: x}", "is not valid: use letters, digits"),
        (b"env: {A: 3}", "env.A.value: must be a string (quote it"),
        (b"env: {A: {required: yes please}}", "env.A.required: must be true or false"),
        (b"env: {A: {generator: uuid}}", "env.A.generator: must be one of 'secret'"),
        (b"env: {A: {default: x}}", "env.A.default: unknown key (the keys here are value,"),
        (b"cron: {name: x}", "cron: must be a list"),
        (b"cron: [{name: a, schedule: '* * *', command: x}]", "cron[0].schedule: has 3 field"),
        (b"cron: [{name: a, schedule: '61 * * * *', command: x}]", "the minute field"),
        (b"cron: [{name: a, schedule: '* 24 * * *', command: x}]", "the hour field"),
        (b"cron: [{name: a, schedule: '* * 0 * *', command: x}]", "the day of month field"),
        (b"cron: [{name: a, schedule: '* * * foo * ', command: x}]", "the month field"),
        (b"cron: [{name: a, schedule: '* * * * 5-1', command: x}]", "the day of week field"),
        (b"cron: [{name: a, schedule: '*/0 * * * *', command: x}]", "the minute field"),
        (b"cron: [{name: A_b, schedule: '@daily', command: x}]", "cron[0].name: must be"),
        (b"cron: [{name: a, schedule: '@daily'}]", "cron[0].command: is required"),
        (b"cron: [{name: a, schedule: '@daily', command: x, zone: Mars/Base}]", "time zone"),
        (
            b"cron: [{name: a, schedule: '@daily', command: x, zone: ../../etc/passwd}]",
            "cron[0].zone: is not a time zone name",
        ),
        (b"cron: [{name: a, schedule: '@daily', command: x, overlap: queue}]", "must be one of"),
        (
            b"cron: [{name: a, schedule: '@daily', command: x}, {name: a, schedule: '@daily', "
            b"command: y}]",
            "two jobs are named a",
        ),
        (b"- just\n- a list", "the top level must be a mapping"),
        (b"key: 'unterminated", "not valid YAML"),
        (b"a: b\na: c", "xae.yaml line 2: the key a is given twice"),
        (b"--- {a: 1}\n--- {b: 2}", "one YAML document"),
    ],
)
def test_a_bad_xae_yaml_is_refused_naming_the_key_and_the_reason(data: bytes, message: str) -> None:
    assert message in refused(data)


def test_several_problems_are_counted_after_the_first() -> None:
    assert refused(b"formaton: 1\nbuidl: 2").endswith("(and 1 more problem(s))")


@pytest.mark.parametrize(
    "data",
    [
        b"env: {TOKEN: {value: [hunter2-secret]}}",
        b"web: [hunter2-secret]",
        b"healthcheck: {path: 'hunter2-secret'}",
        b"cron: [{name: a, schedule: 'hunter2-secret', command: x}]",
        b"cron: [{name: a, schedule: '@daily', command: x, zone: 'hunter2-secret'}]",
        b"formation: {web: {memory: hunter2-secret}}",
        b"formation: {web: {size: hunter2-secret}}",
        b"web: 'hunter2-secret\x01'",
        b"key: 'hunter2-secret\n  bad: [",
        b"hunter2-secret: [\n",
    ],
)
def test_no_error_quotes_a_string_value_of_the_file(data: bytes) -> None:
    assert "hunter2" not in refused(data)


def test_anchors_and_aliases_are_refused_before_anything_expands() -> None:
    bomb = b'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n".encode()
        for i in range(8)
    )
    assert "anchors and aliases (& and *) are not supported" in refused(bomb)
    assert "anchors" in refused(b"web: &w python app.py")


def test_deep_nesting_and_oversized_files_are_refused() -> None:
    assert "nested deeper than 10 levels" in refused(b"[" * 5000 + b"]" * 5000)
    big = b"# " + b"x" * MAX_MANIFEST_BYTES + b"\n"
    assert "is larger than 64 KiB" in refused(big)
    assert "line 2 is not UTF-8" in refused(b"web: x\nenv: {A: \xff}\n")


@pytest.mark.parametrize(
    "schedule",
    ["* * * * *", "*/15 0-6 1,15 jan-mar mon-fri", "0 0 * * 7", "5 4 * dec sun", "@hourly"],
)
def test_valid_cron_schedules_pass(schedule: str) -> None:
    assert check_schedule(schedule) == schedule


def test_find_prefers_xae_yaml_and_says_app_json_is_not_used() -> None:
    files = {"xae.yaml": b"web: python app.py", "app.json": b'{"formation": {}}'}
    parsed = find_manifest(files.get)
    assert parsed is not None and parsed.source == "xae.yaml"
    assert parsed.warnings == ["app.json is not used: xae.yaml takes precedence"]
    assert find_manifest(lambda _: None) is None
    with pytest.raises(InvalidManifest, match="both xae.yaml and xae.yml"):
        find_manifest({"xae.yaml": b"", "xae.yml": b""}.get)
    only_yml = find_manifest({"xae.yml": b"release: x"}.get)
    assert only_yml is not None and only_yml.source == "xae.yml"


HEROKU = {
    "name": "Getting started",
    "description": "A sample app",
    "repository": "https://example.com/x",
    "addons": ["heroku-postgresql"],
    "buildpacks": [{"url": "heroku/python"}],
    "scripts": {"postdeploy": "python seed.py", "pr-predestroy": "python clean.py"},
    "env": {
        "SECRET_KEY": {"description": "A secret key", "generator": "secret"},
        "API_TOKEN": {"description": "the token for the API"},
        "OPTIONAL": {"description": "may be left out", "required": False},
        "WEB_CONCURRENCY": {"value": "2"},
        "SHORT": "plain",
    },
    "formation": {"web": {"quantity": 2, "size": "standard-1x", "max_parallel": 1}},
    "healthchecks": {
        "web": [
            {"type": "startup", "name": "ready", "path": "/ready", "attempts": 5, "wait": 3},
            {"type": "liveness", "path": "/live"},
        ]
    },
}


def test_app_json_maps_onto_the_manifest_and_warns_about_the_rest() -> None:
    parsed = parse_app_json(json.dumps(HEROKU).encode())
    m = parsed.manifest
    assert parsed.source == "app.json"
    assert m.postdeploy == "python seed.py"
    # Heroku's rule: a key with no value (nor generator) is required unless it says otherwise.
    assert {k: (v.value, v.required, v.generator) for k, v in m.env.items()} == {
        "SECRET_KEY": (None, False, "secret"),
        "API_TOKEN": (None, True, None),
        "OPTIONAL": (None, False, None),
        "WEB_CONCURRENCY": ("2", False, None),
        "SHORT": ("plain", False, None),
    }
    assert m.formation["web"].quantity == 2 and m.formation["web"].memory == "512M"
    assert m.healthcheck is not None
    assert (m.healthcheck.path, m.healthcheck.attempts) == ("/ready", 5)
    assert parsed.warnings == [
        "app.json: addons is not supported by xae; ignored",
        "app.json: buildpacks is not supported by xae; ignored",
        "app.json: scripts.pr-predestroy is not supported by xae; ignored",
        "app.json: formation.web.max_parallel is not supported by xae; ignored",
        "app.json: healthchecks.web[0].wait is not supported by xae; ignored",
        "app.json: healthchecks.web[1] is not supported by xae (only the first startup check "
        "of web with a path is); ignored",
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"[1, 2]", "app.json: the top level must be an object"),
        (
            b'{"formation": {"web": {"quantity": -2}}}',
            "app.json: formation.web.quantity: must be ≥ 0",
        ),
        (b'{"scripts": {"postdeploy": ""}}', "app.json: scripts.postdeploy: the command is empty"),
        (b'{"env": {"A": {"value": 5}}}', "app.json: env.A.value: must be a string"),
        (b'{"env": {"A": {"valeu": "x"}}}', "app.json: env.A.valeu: unknown key"),
        (b'{"healthchecks": {"web": [{"path": "x"}]}}', "app.json: healthchecks.web.path"),
        (b'{"healthchecks": []}', "app.json: healthchecks: must be an object"),
        (b'{"a": 1, "a": 2}', "the key a is given twice"),
        (b'{"formation": ', "app.json line 1, column 15: not valid JSON"),
        (b"[" * 100000 + b"]" * 100000, "is larger than 64 KiB"),
    ],
)
def test_a_bad_app_json_is_refused_naming_the_key(document: bytes, message: str) -> None:
    with pytest.raises(InvalidManifest) as caught:
        parse_app_json(document)
    assert message in caught.value.message


def test_check_fits_refuses_a_formation_for_a_missing_type_and_a_build_for_a_dockerfile() -> None:
    m = parse_xae_yaml(b"formation: {worker: {quantity: 1}}\nbuild: {command: make}").manifest
    with pytest.raises(InvalidManifest, match="formation.worker: the app has no process type"):
        check_fits(m, {"web": "x"}, name="xae.yaml", dockerfile=False)
    with pytest.raises(InvalidManifest, match="build.command: an app with a Dockerfile"):
        check_fits(m, {"web": "x", "worker": "y"}, name="xae.yaml", dockerfile=True)
    check_fits(m, {"web": "x", "worker": "y"}, name="xae.yaml", dockerfile=False)
