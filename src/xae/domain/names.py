"""The one validation gate for names that reach commands, paths, labels and hostnames.

An app name becomes a DNS label (`<app>.<base domain>`), a Docker network and container name, a
label value and a directory name, so it is checked here once and nowhere else is trusted to.
"""

from __future__ import annotations

import re

from xae.domain.policy import PROCESS_TYPE_PATTERN
from xae.errors import InvalidName

APP_NAME_MAX = 30
_APP_NAME = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
_PROCESS_TYPE = re.compile(PROCESS_TYPE_PATTERN)
_CONFIG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def validate_app_name(name: str) -> str:
    """Return `name` if it is a valid app name, else raise `InvalidName` saying why."""
    return _dns_label("app name", "an app name", name, APP_NAME_MAX, " (it becomes a DNS label)")


def _dns_label(kind: str, a_kind: str, name: str, most: int, why: str = "") -> str:
    """`name` if it is a DNS label of at most `most` characters without `--`."""
    if not name:
        raise InvalidName(f"{a_kind} is required")
    if len(name) > most:
        raise InvalidName(
            f"{kind} {ascii(name[:40])} is {len(name)} characters long; use at most {most}"
        )
    if not _APP_NAME.fullmatch(name) or "--" in name:
        raise InvalidName(
            f"{kind} {ascii(name)} is not valid: use lowercase letters, digits and single "
            f"dashes, starting with a letter and not ending with a dash{why}"
        )
    return name


def validate_process_type(name: str) -> str:
    if not _PROCESS_TYPE.fullmatch(name):
        raise InvalidName(
            f"process type {ascii(name[:40])} is not valid: use lowercase letters, digits, "
            "'-' or '_', starting with a letter, at most 30 characters"
        )
    return name


def validate_config_key(key: str) -> str:
    if not _CONFIG_KEY.fullmatch(key):
        raise InvalidName(
            f"config key {ascii(key[:40])} is not valid: use letters, digits and '_', "
            "not starting with a digit"
        )
    if key.startswith("XAE_") or key == "PORT":
        raise InvalidName(f"config key {ascii(key)} is reserved by xae")
    return key


TEAM_NAME_MAX = APP_NAME_MAX
EMAIL_MAX = 254
"""The longest address SMTP carries (RFC 5321's path limit less its angle brackets)."""
_EMAIL_LOCAL_MAX = 64
_EMAIL_LOCAL = re.compile(r"[a-z0-9]+(?:[._+-][a-z0-9]+)*")
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_EMAIL_RULE = (
    "use ASCII letters, digits and single . _ + - inside the part before the '@', and a host "
    "name of letters, digits, dashes and dots after it, e.g. ada@example.com"
)


def validate_team_name(name: str) -> str:
    """Return `name` if it is a valid team name (the rules of an app name: a team's name may
    become a label, a namespace or a directory as an app's does), else raise `InvalidName`."""
    return _dns_label("team name", "a team name", name, TEAM_NAME_MAX)


def validate_email(email: str) -> str:
    """Return `email` lower-cased if it is a user email xae accepts, else raise `InvalidName`.

    A conservative subset of RFC 5321, ASCII only: no quoted local parts, comments, IP
    literals or internationalised names, which are where look-alikes and parser disagreements
    live. ASCII is checked before lower-casing, since `str.lower` maps some non-ASCII letters
    onto ASCII ones (the Kelvin sign K becomes `k`). A one-label host (`dev@localhost`) is
    accepted for installations without DNS."""
    if not email:
        raise InvalidName("a user email is required")
    if len(email) > EMAIL_MAX:
        raise InvalidName(
            f"user email {ascii(email[:40])}… is {len(email)} characters long; "
            f"use at most {EMAIL_MAX}"
        )
    if not email.isascii():
        position, char = next((i, c) for i, c in enumerate(email) if not c.isascii())
        raise InvalidName(
            f"user email {ascii(email[:80])} has a non-ASCII character (U+{ord(char):04X}) at "
            f"position {position}: {_EMAIL_RULE}"
        )
    lowered = email.lower()
    local, at, host = lowered.partition("@")
    if (
        not at
        or len(local) > _EMAIL_LOCAL_MAX
        or not _EMAIL_LOCAL.fullmatch(local)
        or not all(_HOST_LABEL.fullmatch(label) for label in host.split("."))
    ):
        raise InvalidName(f"user email {ascii(email[:80])} is not valid: {_EMAIL_RULE}")
    return lowered


_PLAIN_USER = re.compile(r"[a-z][a-z0-9_-]{0,63}")


def validate_user_name(name: str) -> str:
    """A user logs in with an e-mail address (`validate_email`, lower-cased), or a plain name
    such as the bootstrap `admin` (lower-case letters, digits, '-' and '_', at most 64)."""
    if name and "@" not in name and name.isascii() and _PLAIN_USER.fullmatch(name):
        return name
    if "@" in name:
        return validate_email(name)
    raise InvalidName(
        f"user {ascii(name[:60])} is not valid: use an e-mail address, e.g. ada@example.com, "
        "or a plain name of lower-case letters, digits, '-' and '_'"
    )
