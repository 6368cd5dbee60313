"""Preview apps' names and idle times: a git branch becomes `APP--BRANCH`, a DNS label.

A branch name is the tenant's free text (`Feature/Login_Page!`, unicode, 250 characters); an
app name is a DNS label of at most 30 characters that reaches hostnames, container names and
paths. The branch is lowercased, every run of characters outside `[a-z0-9]` becomes one `-`,
dashes are trimmed from both ends and the result cut to what the app name leaves room for. Two
branches may map to one name (`feature/a` and `Feature_A`): the store remembers which branch
owns a preview, and the second is refused (`xae.control.previews`), never merged into the first.

`--` separates the parent from the branch: user-made app names never contain it
(`validate_new_app_name`), so a preview can never take an existing app's name.

Pure: no I/O.
"""

from __future__ import annotations

import re

from xae.domain.names import APP_NAME_MAX, PREVIEW_SEPARATOR, validate_app_name
from xae.errors import InvalidInput

BRANCH_MAX = 255
"""The longest branch name accepted (git allows more; nobody types it)."""

IDLE_DEFAULT = 3 * 86400
IDLE_MIN = 1
IDLE_MAX = 365 * 86400

_NOT_LABEL = re.compile(r"[^a-z0-9]+")
_DURATION = re.compile(r"^([0-9]{1,9})([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def branch_label(branch: str) -> str:
    """`branch` as the lowercase letters, digits and single dashes of a DNS label (uncut)."""
    if not branch or len(branch) > BRANCH_MAX:
        raise InvalidInput(f"a branch name must be 1 to {BRANCH_MAX} characters long")
    if any(not c.isprintable() for c in branch):
        raise InvalidInput("a branch name must not contain control characters")
    return _NOT_LABEL.sub("-", branch.lower()).strip("-")


def preview_name(parent: str, branch: str) -> str:
    """The preview app of `branch` of app `parent`: `parent--label`, at most 30 characters."""
    validate_app_name(parent)
    if PREVIEW_SEPARATOR in parent:
        raise InvalidInput(f"{parent} is a preview app itself: previews belong to the app")
    if len(parent) == 2:
        # `ab--x` has `--` at positions 3-4, which DNS reserves for punycode (`xn--`).
        raise InvalidInput(
            f"an app named {parent} (two characters) cannot have preview apps: their names "
            "would look like punycode; use an app name of 3 or more characters"
        )
    room = APP_NAME_MAX - len(parent) - len(PREVIEW_SEPARATOR)
    if room < 1:
        raise InvalidInput(
            f"the app name {parent} leaves no room for a branch in a preview's name (at most "
            f"{APP_NAME_MAX} characters): previews need an app name of at most "
            f"{APP_NAME_MAX - len(PREVIEW_SEPARATOR) - 1} characters"
        )
    label = branch_label(branch)
    label = label[:room].rstrip("-")
    if not label:
        raise InvalidInput(
            f"branch {ascii(branch[:60])} has no letter or digit to name a preview app with: "
            "rename the branch"
        )
    return validate_app_name(f"{parent}{PREVIEW_SEPARATOR}{label}")


def parse_idle(text: str) -> int:
    """`3d`, `12h`, `30m`, `90s` or plain seconds → seconds, within bounds."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise InvalidInput(
            f"idle time {ascii(text[:40])} is not valid: use a number with s, m, h, d or w "
            "(e.g. 3d, 12h, 30m)"
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if not IDLE_MIN <= seconds <= IDLE_MAX:
        raise InvalidInput(f"idle time must be between {IDLE_MIN} s and {IDLE_MAX // 86400} days")
    return seconds


def format_idle(seconds: int) -> str:
    """Seconds as the largest unit that divides them (`259200` → `3d`)."""
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
