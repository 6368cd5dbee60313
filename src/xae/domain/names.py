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
    if not name:
        raise InvalidName("an app name is required")
    if len(name) > APP_NAME_MAX:
        raise InvalidName(
            f"app name {name[:40]!r} is {len(name)} characters long; use at most {APP_NAME_MAX}"
        )
    if not _APP_NAME.fullmatch(name) or "--" in name:
        raise InvalidName(
            f"app name {name!r} is not valid: use lowercase letters, digits and single dashes, "
            "starting with a letter and not ending with a dash (it becomes a DNS label)"
        )
    return name


def validate_process_type(name: str) -> str:
    if not _PROCESS_TYPE.fullmatch(name):
        raise InvalidName(
            f"process type {name!r} is not valid: use lowercase letters, digits, '-' or '_', "
            "starting with a letter, at most 30 characters"
        )
    return name


def validate_config_key(key: str) -> str:
    if not _CONFIG_KEY.fullmatch(key):
        raise InvalidName(
            f"config key {key[:40]!r} is not valid: use letters, digits and '_', "
            "not starting with a digit"
        )
    if key.startswith("XAE_") or key == "PORT":
        raise InvalidName(f"config key {key!r} is reserved by xae")
    return key


TEAM_NAME_MAX = 30
USER_NAME_MAX = 254
_EMAIL = re.compile(
    r"^[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9_+-])?@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})+$"
)
_PLAIN_USER = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62})$", re.IGNORECASE)


def validate_team_name(name: str) -> str:
    """Team names are like app names: a team becomes a Kubernetes namespace's name."""
    if not name:
        raise InvalidName("a team name is required")
    if len(name) > TEAM_NAME_MAX or not _APP_NAME.fullmatch(name) or "--" in name:
        raise InvalidName(
            f"team name {name[:40]!r} is not valid: use at most {TEAM_NAME_MAX} lowercase "
            "letters, digits and single dashes, starting with a letter and not ending with a dash"
        )
    return name


def validate_user_name(name: str) -> str:
    """A user logs in with an e-mail address (lower case), or a plain name such as `admin`."""
    if not name:
        raise InvalidName("a user name (an e-mail address) is required")
    if len(name) > USER_NAME_MAX or not (_EMAIL.fullmatch(name) or _PLAIN_USER.fullmatch(name)):
        raise InvalidName(
            f"user {name[:60]!r} is not valid: use an e-mail address in lower case "
            "(letters, digits, '.', '_', '+', '-'), or a plain name of letters, digits, '-' and '_'"
        )
    return name
