"""The app manifest: an optional `xae.yaml` (or `xae.yml`) in the app's source, or Heroku's
`app.json`, parsed and validated into one `Manifest`. Pure: no I/O (callers hand in the bytes).

A manifest declares what a Procfile cannot: the generic build command, the release command,
formation and sizes for the first deploy, the health check, config defaults and required keys,
cron jobs and a postdeploy command. It is checked as a whole before any build time is spent,
and a bad one is refused naming the key and the reason (`xae.yaml: formation.web.quantity:
must be ≥ 0, got -1`).

This module is the schema and the wording of its errors; `xae.domain.manifest_files` reads
the files (YAML, app.json) into it. The values are untrusted data. Errors name keys and say
what is wrong; they quote numbers and booleans (which carry no secret) but never a string
value: a config default or a command could be a password.

`xae.yaml` is strict (an unknown key is a typo, an error); `app.json` is read for
compatibility, so keys xae does not support are warnings for the build log, not errors.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from xae.domain.health import validate_health_path, validate_health_timing
from xae.domain.images import COMMAND_MAX
from xae.domain.names import validate_config_key
from xae.domain.policy import PROCESS_TYPE_PATTERN
from xae.domain.procfile import MAX_PROCESS_TYPES
from xae.domain.resources import parse_memory, validate_cpus
from xae.errors import InvalidInput, InvalidManifest

XAE_YAML_NAMES = ("xae.yaml", "xae.yml")
APP_JSON = "app.json"
MAX_MANIFEST_BYTES = 64 * 1024
"""The largest manifest xae reads: a real one is a few hundred bytes."""
MAX_DEPTH = 10
"""The deepest nesting a manifest may have (the schema itself needs 4)."""
MAX_CRON_JOBS = 50
MAX_ENV_KEYS = 500
MAX_QUANTITY = 100
BUILD_COMMAND_MAX = 8192
DESCRIPTION_MAX = 1000
ENV_VALUE_MAX = 32 * 1024

HEROKU_SIZES = {
    "free": "512M",
    "eco": "512M",
    "hobby": "512M",
    "basic": "512M",
    "standard-1x": "512M",
    "standard-2x": "1G",
    "performance-m": "2560M",
    "performance-l": "14G",
}
"""Heroku's dyno sizes as the memory they give, so an app.json `size` keeps its meaning."""

_TYPE = re.compile(PROCESS_TYPE_PATTERN)
_CRON_NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")
_ZONE = re.compile(r"[A-Za-z0-9_+-]{1,30}(?:/[A-Za-z0-9_+-]{1,30}){0,2}")
_COMMAND_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BUILD_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CRON_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...], int], ...] = (
    # name, lowest, highest, names, the number the first name stands for
    ("minute", 0, 59, (), 0),
    ("hour", 0, 23, (), 0),
    ("day of month", 1, 31, (), 0),
    ("month", 1, 12, _MONTHS, 1),
    ("day of week", 0, 7, _DAYS, 0),
)


def _one_line(command: str, what: str) -> str:
    """A command as a Procfile line: one printable line, not empty."""
    command = command.strip()
    if not command:
        raise ValueError(f"{what} is empty: give the command to run")
    if len(command) > COMMAND_MAX:
        raise ValueError(f"{what} is {len(command)} characters long; use at most {COMMAND_MAX}")
    if _COMMAND_CONTROL.search(command):
        raise ValueError(
            f"{what} contains a line break or control characters: give one line, like a "
            "Procfile command (`python app.py`)"
        )
    return command


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BuildSection(_Strict):
    command: str
    """Run in the image build after the app's code is copied in, as the app user."""

    @field_validator("command")
    @classmethod
    def _command(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("is empty: give the command to run, or remove the build section")
        if len(value) > BUILD_COMMAND_MAX:
            raise ValueError(f"is {len(value)} characters long; use at most {BUILD_COMMAND_MAX}")
        if _BUILD_CONTROL.search(value):
            raise ValueError("contains control characters (only line breaks and tabs may appear)")
        return value


class ProcessSize(_Strict):
    quantity: int | None = Field(default=None, ge=0, le=MAX_QUANTITY)
    memory: str | None = None
    """As `ps:scale` takes it (`512M`, `1G`); the platform's ceiling is checked at release."""
    cpus: float | None = None
    size: str | None = None
    """A Heroku dyno size (`standard-2x`) or a memory size; folded into `memory`."""

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        try:
            parse_memory(value)
        except InvalidInput:
            raise ValueError("is not a memory size: write it like 512M or 1G") from None
        return value.strip()

    @field_validator("cpus")
    @classmethod
    def _cpus(cls, value: float) -> float:
        try:
            return validate_cpus(value)
        except InvalidInput:
            raise ValueError(f"must be between 0.01 and 64, got {value:g}") from None

    @model_validator(mode="after")
    def _size(self) -> ProcessSize:
        if self.size is None:
            return self
        if self.memory is not None:
            raise ValueError("give either size or memory, not both")
        memory = HEROKU_SIZES.get(self.size.strip().lower(), self.size)
        try:
            parse_memory(memory)
        except InvalidInput:
            raise ValueError(
                "size is neither a memory size (512M, 1G) nor a dyno size xae knows ("
                + ", ".join(HEROKU_SIZES)
                + ")"
            ) from None
        return self.model_copy(update={"memory": memory.strip(), "size": None})


class HealthSection(_Strict):
    path: str
    timeout: float | None = None
    attempts: int | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        try:
            return validate_health_path(value)
        except InvalidInput as e:
            raise ValueError(_no_quotes(e.message)) from None

    @model_validator(mode="after")
    def _timing(self) -> HealthSection:
        if self.timeout is not None or self.attempts is not None:
            try:
                validate_health_timing(
                    self.timeout if self.timeout is not None else 2.0,
                    self.attempts if self.attempts is not None else 120,
                )
            except InvalidInput as e:
                raise ValueError(e.message) from None
        return self


class EnvVar(_Strict):
    value: str | None = Field(default=None, max_length=ENV_VALUE_MAX)
    """The default, set when the app has no value for the key."""
    required: bool = False
    """The deploy is refused while the app has no value (and there is no default)."""
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    generator: Literal["secret"] | None = None
    """`secret`: xae sets a random value (64 hex digits) when the app has none."""


class CronEntry(_Strict):
    name: str
    schedule: str
    """Five fields (minute hour day-of-month month day-of-week) or a macro like `@daily`."""
    command: str
    zone: str = "UTC"
    overlap: Literal["skip", "allow"] = "skip"
    """Whether a run may start while the previous one still runs."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _CRON_NAME.fullmatch(value):
            raise ValueError(
                "must be lowercase letters, digits and '-', starting with a letter, at most 40 "
                "characters"
            )
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return check_schedule(value)

    @field_validator("command")
    @classmethod
    def _command(cls, value: str) -> str:
        return _one_line(value, "the command")

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not _ZONE.fullmatch(value) or ".." in value:
            raise ValueError("is not a time zone name: use UTC or a name like Europe/Paris")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                "is not a time zone this machine knows: use UTC or a name like Europe/Paris"
            ) from None
        return value


class Manifest(_Strict):
    """A validated manifest, in `xae.yaml`'s shape. This is also the stored form (on the Build
    row, as JSON): `web` and `size` are folded into `processes` and `memory` on the way in."""

    build: BuildSection | None = None
    release: str | None = None
    """The release phase command (the `release` process type)."""
    web: str | None = None
    """Shorthand for `processes: {web: ...}`."""
    processes: dict[str, str] | None = None
    """Process type → command, like a Procfile; when given, the Procfile is not used."""
    formation: dict[str, ProcessSize] = Field(default_factory=dict)
    """Applied on the app's first deploy only; afterwards `ps:scale` decides."""
    healthcheck: HealthSection | None = None
    env: dict[str, EnvVar] = Field(default_factory=dict)
    cron: list[CronEntry] = Field(default_factory=list, max_length=MAX_CRON_JOBS)
    postdeploy: str | None = None
    """Run once, in a one-off container, after the app's first successful deploy."""

    @field_validator("release", "postdeploy")
    @classmethod
    def _command(cls, value: str) -> str:
        return _one_line(value, "the command")

    @field_validator("processes")
    @classmethod
    def _processes(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_PROCESS_TYPES:
            raise ValueError(f"declares more than {MAX_PROCESS_TYPES} process types")
        for ptype, command in value.items():
            if not _TYPE.fullmatch(ptype):
                raise ValueError(
                    f"{show_key(ptype)}: a process type must be lowercase letters, digits, '-' or "
                    "'_', starting with a letter, at most 30 characters"
                )
            if ptype == "release":
                raise ValueError("release: give the release command as the top-level `release:`")
            _checked(f"{ptype}: the command", command)
        return {t: c.strip() for t, c in value.items()}

    @field_validator("formation")
    @classmethod
    def _formation(cls, value: dict[str, ProcessSize]) -> dict[str, ProcessSize]:
        for ptype in value:
            if not _TYPE.fullmatch(ptype):
                raise ValueError(f"{show_key(ptype)} is not a process type name")
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env_shorthand(cls, value: object) -> object:
        # `KEY: value` is short for `KEY: {value: value}` (app.json allows it too); a number
        # or a boolean stays as given, so the model asks for it quoted.
        if isinstance(value, dict):
            return {k: v if isinstance(v, dict) else {"value": v} for k, v in value.items()}
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, EnvVar]) -> dict[str, EnvVar]:
        if len(value) > MAX_ENV_KEYS:
            raise ValueError(f"declares more than {MAX_ENV_KEYS} keys")
        for key in value:
            try:
                validate_config_key(key)
            except InvalidInput as e:
                raise ValueError(e.message) from None
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: list[CronEntry]) -> list[CronEntry]:
        seen: set[str] = set()
        for entry in value:
            if entry.name in seen:
                raise ValueError(f"two jobs are named {entry.name}: give each its own name")
            seen.add(entry.name)
        return value

    @model_validator(mode="after")
    def _fold_web(self) -> Manifest:
        if self.web is None:
            return self
        web = _checked("web: the command", self.web)
        processes = dict(self.processes or {})
        if "web" in processes:
            raise ValueError("web is given twice (as `web:` and as `processes.web`): keep one")
        return self.model_copy(update={"web": None, "processes": {"web": web, **processes}})

    def summary(self) -> str:
        """One line for the build log: what the manifest declares (never values)."""
        parts = []
        if self.build:
            parts.append("a build command")
        if self.release:
            parts.append("a release command")
        if self.processes:
            parts.append("process types " + ", ".join(sorted(self.processes)))
        if self.formation:
            parts.append("formation for " + ", ".join(sorted(self.formation)))
        if self.healthcheck:
            parts.append(f"health check {self.healthcheck.path}")
        if self.env:
            parts.append(f"{len(self.env)} config key(s)")
        if self.cron:
            parts.append(f"{len(self.cron)} cron job(s)")
        if self.postdeploy:
            parts.append("a postdeploy command")
        return ", ".join(parts) or "nothing"


def _checked(what: str, command: str) -> str:
    return _one_line(command, what)


def show_key(key: str) -> str:
    """A key as errors show it: as is when plain, else escaped and cut short."""
    if re.fullmatch(r"[A-Za-z0-9_.@-]{1,60}", key):
        return key
    return ascii(key[:40])


def _no_quotes(message: str) -> str:
    """`message` without the quoted user text some validators include."""
    return re.sub(r", got '.*'$|, got \".*\"$", "", message)


def check_schedule(schedule: str) -> str:
    """`schedule` if it is a 5-field cron expression or a macro (`@daily`), else ValueError
    saying which field is wrong."""
    text = schedule.strip()
    if text.lower() in _CRON_MACROS:
        return text.lower()
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"has {len(fields)} field(s); a schedule has 5 (minute hour day-of-month month "
            "day-of-week, e.g. `*/15 * * * *`) or is a macro like @daily"
        )
    for text_field, (name, low, high, names, first) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text_field.split(","):
            if not _cron_item(item.lower(), low, high, names, first):
                raise ValueError(
                    f"the {name} field is not valid: use *, a number from {low} to {high}"
                    + (f" or a name ({names[0]}...)" if names else "")
                    + ", a range a-b, a step */n or a list a,b"
                )
    return " ".join(fields)


def _cron_item(item: str, low: int, high: int, names: tuple[str, ...], first: int) -> bool:
    def number(text: str) -> int | None:
        if text in names:
            return names.index(text) + first
        if text.isdigit() and len(text) <= 2 and low <= int(text) <= high:
            return int(text)
        return None

    base, slash, step = item.partition("/")
    if slash and not (step.isdigit() and len(step) <= 2 and 1 <= int(step) <= high):
        return False
    if base == "*":
        return True
    start, dash, end = base.partition("-")
    lo = number(start)
    if lo is None:
        return False
    if dash:
        hi = number(end)
        return hi is not None and lo <= hi
    return True


def check_fits(
    manifest: Manifest, processes: dict[str, str], *, name: str, dockerfile: bool
) -> None:
    """InvalidManifest when the manifest does not fit the app whose process types are
    `processes`: a formation for a type it has not, or a build command for a Dockerfile app."""
    for ptype in manifest.formation:
        if ptype not in processes or ptype == "release":
            types = ", ".join(sorted(t for t in processes if t != "release")) or "none"
            shown = show_key(ptype)
            raise InvalidManifest(
                f"{name}: formation.{shown}: the app has no process type {shown} "
                f"(its types are {types}): declare it in the Procfile or in processes"
            )
    if manifest.build is not None and dockerfile:
        raise InvalidManifest(
            f"{name}: build.command: an app with a Dockerfile is built by its Dockerfile; add "
            "the command there as a RUN step"
        )


def stored_health(stored: dict[str, Any] | None) -> HealthSection | None:
    """The health check of a stored manifest (`Manifest.model_dump`), read cheaply: the plan
    asks on every reconcile, and the stored form was validated when the build read it."""
    data = (stored or {}).get("healthcheck")
    if not isinstance(data, dict) or not isinstance(data.get("path"), str):
        return None
    return HealthSection.model_construct(
        path=data["path"], timeout=data.get("timeout"), attempts=data.get("attempts")
    )


# -- validation errors as users read them ----------------------------------------------------

_MEMBERS: dict[str, tuple[str, ...]] = {
    "": tuple(Manifest.model_fields),
    "build": tuple(BuildSection.model_fields),
    "healthcheck": tuple(HealthSection.model_fields),
    "formation.*": tuple(ProcessSize.model_fields),
    "env.*": tuple(EnvVar.model_fields),
    "cron.*": tuple(CronEntry.model_fields),
}


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + show_key(part)
    return out


def _shape(loc: tuple[int | str, ...]) -> str:
    """The schema position of `loc`'s parent: `formation.*` for formation.web.quantity."""
    parent = loc[:-1]
    if not parent:
        return ""
    if len(parent) == 2 and parent[0] in ("formation", "env", "cron"):
        return f"{parent[0]}.*"
    return str(parent[0]) if len(parent) == 1 else "?"


def _reason(error: ErrorDetails) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    got = (
        f", got {json.dumps(value)}"
        if isinstance(value, int | float | bool) and not isinstance(value, str)
        else ""
    )
    loc = tuple(error["loc"])
    if kind == "extra_forbidden":
        members = _MEMBERS.get(_shape(loc))
        return "unknown key" + (f" (the keys here are {', '.join(members)})" if members else "")
    if kind == "greater_than_equal":
        return f"must be ≥ {ctx.get('ge')}{got}"
    if kind == "less_than_equal":
        return f"must be ≤ {ctx.get('le')}{got}"
    if kind == "missing":
        return "is required"
    if kind in ("string_type", "str_type"):
        return 'must be a string (quote it: "...")'
    if kind in ("int_type", "int_from_float"):
        return f"must be a whole number{got}"
    if kind == "float_type":
        return f"must be a number{got}"
    if kind == "bool_type":
        return "must be true or false"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a mapping (key: value)"
    if kind == "list_type":
        return "must be a list (- item)"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind == "too_long":
        return f"has more than {ctx.get('max_length')} items"
    if kind == "string_too_long":
        return f"is longer than {ctx.get('max_length')} characters"
    if kind in ("value_error", "assertion_error"):
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"])


def validate_document(document: dict[str, Any], name: str, rename: dict[str, str]) -> Manifest:
    try:
        return Manifest.model_validate(document)
    except ValidationError as e:
        errors = e.errors(include_url=False, include_input=True)
        # An unknown key first: a typo is the likeliest cause of the other problems.
        first = sorted(errors, key=lambda error: error["type"] != "extra_forbidden")[0]
        path = _path(tuple(first["loc"]))
        for ours, theirs in rename.items():
            if path == ours or path.startswith(ours + "."):
                path = theirs + path[len(ours) :]
                break
        reason = _reason(first)
        # A validator's message may begin with the key it names ("web: ...").
        where = f"{path}: " if path else ""
        more = len(errors) - 1
        tail = f" (and {more} more problem(s))" if more else ""
        raise InvalidManifest(f"{name}: {where}{reason}{tail}") from None
