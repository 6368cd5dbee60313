"""Reading a manifest's bytes: `xae.yaml` (or `xae.yml`) as YAML, Heroku's `app.json` as JSON,
and which of them an app's source uses. Pure: no I/O (callers hand in the bytes).

The bytes are untrusted. YAML is read with PyYAML's safe loader, after a pass over its events
that refuses anchors and aliases (the "billion laughs" bomb), nesting deeper than `MAX_DEPTH`,
several documents and duplicate keys, on at most `MAX_MANIFEST_BYTES`; parse errors say where,
never quoting the text. `app.json` is mapped onto the schema of `xae.domain.manifest` for
compatibility: what xae does not support becomes a warning for the build log, not an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from xae.domain.manifest import (
    APP_JSON,
    MAX_DEPTH,
    MAX_MANIFEST_BYTES,
    XAE_YAML_NAMES,
    Manifest,
    show_key,
    validate_document,
)
from xae.errors import InvalidManifest


@dataclass(frozen=True)
class ParsedManifest:
    """A manifest as read from the source: where from, and what it says."""

    source: str
    """The file it came from (`xae.yaml`, `xae.yml`, `app.json`)."""
    manifest: Manifest
    warnings: list[str] = field(default_factory=list)
    """What xae does not support and ignores (app.json only), for the build log."""


def find_manifest(read: Callable[[str], bytes | None]) -> ParsedManifest | None:
    """The app's manifest, read with `read(name)` (the file's bytes, or None when there is
    none): `xae.yaml` or `xae.yml`, else `app.json`; None when there is none. When the app
    has both an xae.yaml and an app.json, the app.json is not used (a warning says so)."""
    found = {name: data for name in XAE_YAML_NAMES if (data := read(name)) is not None}
    if len(found) > 1:
        raise InvalidManifest("the source has both xae.yaml and xae.yml: keep one of them")
    app_json = read(APP_JSON)
    for name, data in found.items():
        parsed = parse_xae_yaml(data, name)
        if app_json is not None:
            parsed.warnings.append(f"{APP_JSON} is not used: {name} takes precedence")
        return parsed
    if app_json is not None:
        return parse_app_json(app_json)
    return None


def parse_xae_yaml(data: bytes, name: str = "xae.yaml") -> ParsedManifest:
    """Validate the bytes of an `xae.yaml`; InvalidManifest naming the key and the reason."""
    document = _load_yaml(data, name)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise InvalidManifest(
            f"{name}: the top level must be a mapping of keys (build, release, processes, "
            "formation, healthcheck, env, cron, ...)"
        )
    return ParsedManifest(source=name, manifest=validate_document(document, name, {}))


def _check_size(data: bytes, name: str) -> str:
    if len(data) > MAX_MANIFEST_BYTES:
        raise InvalidManifest(
            f"{name} is larger than {MAX_MANIFEST_BYTES // 1024} KiB; a manifest is a few "
            "lines: keep it small"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InvalidManifest(f"{name} line {line} is not UTF-8 text; save it as UTF-8") from None


class _Loader(yaml.SafeLoader):
    """safe_load's loader, refusing a key given twice in one mapping (YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                line = key_node.start_mark.line + 1
                raise InvalidManifest(
                    f"{self.name} line {line}: the key {show_key(str(key))} is given twice "
                    "in one mapping: keep one"
                )
            seen.add(key) if isinstance(key, str | int | float | bool) else None
        return super().construct_mapping(node, deep=deep)


def _construct_map(loader: _Loader, node: yaml.Node) -> dict[Any, Any]:
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def _yaml_events(text: str, name: str) -> Iterator[yaml.Event]:
    loader = _Loader(text)
    loader.name = name
    try:
        while loader.check_event():
            yield loader.get_event()  # type: ignore[no-untyped-call]
    finally:
        loader.dispose()


def _load_yaml(data: bytes, name: str) -> object:
    text = _check_size(data, name)
    try:
        depth = 0
        for event in _yaml_events(text, name):
            line = event.start_mark.line + 1 if event.start_mark else 0
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise InvalidManifest(
                    f"{name} line {line}: anchors and aliases (& and *) are not supported in a "
                    "manifest: write the values out"
                )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise InvalidManifest(
                        f"{name} line {line}: nested deeper than {MAX_DEPTH} levels; a manifest "
                        "needs at most 4"
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.DocumentStartEvent) and event.explicit and line > 1:
                raise InvalidManifest(f"{name} line {line}: a manifest is one YAML document")
        loader = _Loader(text)
        loader.name = name
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = re.sub(r"'(?!<)[^']*'|\"[^\"]*\"", "", e.problem or "").strip()
        raise InvalidManifest(
            f"{name}{where}: not valid YAML" + (f" ({problem})" if problem else "")
        ) from None
    except yaml.YAMLError:
        raise InvalidManifest(f"{name}: not valid YAML") from None


# -- app.json ---------------------------------------------------------------------------------

_APP_JSON_INFO = frozenset(
    {"name", "description", "keywords", "website", "repository", "logo", "success_url"}
)
_APP_JSON_USED = frozenset({"scripts", "env", "formation", "healthchecks"})


def parse_app_json(data: bytes) -> ParsedManifest:
    """Map a Heroku (or Dokku) `app.json` onto a Manifest; unsupported keys become warnings."""
    text = _check_size(data, APP_JSON)

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        for key in keys:
            if keys.count(key) > 1:
                raise InvalidManifest(
                    f"{APP_JSON}: the key {show_key(key)} is given twice: keep one"
                )
        return dict(pairs)

    try:
        document = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as e:
        raise InvalidManifest(
            f"{APP_JSON} line {e.lineno}, column {e.colno}: not valid JSON ({e.msg})"
        ) from None
    except RecursionError:
        raise InvalidManifest(f"{APP_JSON}: nested too deeply") from None
    if not isinstance(document, dict):
        raise InvalidManifest(f"{APP_JSON}: the top level must be an object")
    warnings: list[str] = []
    mapped: dict[str, Any] = {}
    for key in document:
        if key not in _APP_JSON_INFO | _APP_JSON_USED:
            warnings.append(f"{APP_JSON}: {show_key(key)} is not supported by xae; ignored")
    scripts = document.get("scripts")
    if scripts is not None:
        if not isinstance(scripts, dict):
            raise InvalidManifest(f"{APP_JSON}: scripts: must be an object")
        for key in scripts:
            if key != "postdeploy":
                warnings.append(
                    f"{APP_JSON}: scripts.{show_key(key)} is not supported by xae; ignored"
                )
        if "postdeploy" in scripts:
            mapped["postdeploy"] = scripts["postdeploy"]
    if "env" in document:
        mapped["env"] = _app_json_env(document["env"])
    formation = document.get("formation")
    if formation is not None:
        mapped["formation"] = _app_json_formation(formation, warnings)
    healthchecks = document.get("healthchecks")
    if healthchecks is not None:
        check = _app_json_health(healthchecks, warnings)
        if check is not None:
            mapped["healthcheck"] = check
    manifest = validate_document(
        mapped,
        APP_JSON,
        {"postdeploy": "scripts.postdeploy", "healthcheck": "healthchecks.web"},
    )
    return ParsedManifest(source=APP_JSON, manifest=manifest, warnings=warnings)


def _app_json_env(env: object) -> object:
    """Heroku's env: `required` defaults to true there (a key with no value must be set)."""
    if not isinstance(env, dict):
        return env  # the model says what is wrong
    out: dict[str, object] = {}
    for key, spec in env.items():
        if isinstance(spec, dict):
            spec = dict(spec)
            if "required" not in spec:
                spec["required"] = "value" not in spec and "generator" not in spec
        out[key] = spec
    return out


def _app_json_formation(formation: object, warnings: list[str]) -> object:
    if not isinstance(formation, dict):
        return formation
    out: dict[str, object] = {}
    for ptype, spec in formation.items():
        if isinstance(spec, dict):
            kept = {k: v for k, v in spec.items() if k in ("quantity", "size")}
            for key in spec:
                if key not in kept:
                    warnings.append(
                        f"{APP_JSON}: formation.{show_key(ptype)}.{show_key(key)} is not "
                        "supported by xae; ignored"
                    )
            spec = kept
        out[ptype] = spec
    return out


_DOKKU_CHECK_USED = ("path", "timeout", "attempts")
_DOKKU_CHECK_INFO = ("type", "name", "description")


def _app_json_health(healthchecks: object, warnings: list[str]) -> dict[str, object] | None:
    """Dokku's `healthchecks: {web: [{type: startup, path, timeout, attempts, ...}]}`: the
    first `startup` check of `web` with a path becomes xae's check."""
    if not isinstance(healthchecks, dict):
        raise InvalidManifest(f"{APP_JSON}: healthchecks: must be an object")
    chosen: dict[str, object] | None = None
    for ptype, checks in healthchecks.items():
        if not isinstance(checks, list):
            raise InvalidManifest(f"{APP_JSON}: healthchecks.{show_key(ptype)}: must be a list")
        for index, check in enumerate(checks):
            where = f"{APP_JSON}: healthchecks.{show_key(ptype)}[{index}]"
            if not isinstance(check, dict):
                raise InvalidManifest(f"{where}: must be an object")
            kind = check.get("type", "startup")
            usable = ptype == "web" and kind == "startup" and "path" in check and chosen is None
            if not usable:
                warnings.append(
                    f"{where} is not supported by xae (only the first startup check of web with "
                    "a path is); ignored"
                )
                continue
            chosen = {k: check[k] for k in _DOKKU_CHECK_USED if k in check}
            for key in check:
                if key not in _DOKKU_CHECK_USED + _DOKKU_CHECK_INFO:
                    warnings.append(f"{where}.{show_key(key)} is not supported by xae; ignored")
    return chosen
