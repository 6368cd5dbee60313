"""The one validation gate for an app's health check: the path it GETs and how long it may try.

The path is sent by the control plane (as an HTTP request line) and by the kubelet (as a probe
in a manifest), so a control character or a space in it does not stay a tenant's own problem:
it used to make every reconcile pass fail. Only what RFC 3986 allows in a path and a query
passes, as printable ASCII. The time bound keeps one app's check from holding a rollout (and a
reconcile worker) for hours.
"""

from __future__ import annotations

import math
import re
import string

from xae.errors import InvalidInput

HEALTH_PATH_MAX = 256
MAX_TIMEOUT = 60.0
MIN_TIMEOUT = 0.1
MAX_ATTEMPTS = 1000
MAX_CHECK_SECONDS = 600.0
"""A check may try for at most this long in total: timeout × attempts."""

_PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})"
_HEALTH_PATH = re.compile(rf"/(?:{_PCHAR}|/)*(?:\?(?:{_PCHAR}|[/?])*)?")
_ALLOWED = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?%")


def validate_health_path(path: str) -> str:
    """Return `path` if it is a safe health check path, else raise `InvalidInput` saying why."""
    if not path.startswith("/"):
        raise InvalidInput(f"the health check path must start with '/', got {path[:40]!r}")
    if len(path) > HEALTH_PATH_MAX:
        raise InvalidInput(
            f"the health check path is {len(path)} characters long; use at most {HEALTH_PATH_MAX}"
        )
    if path.startswith("//"):
        raise InvalidInput("the health check path must not start with '//' (it reads as a host)")
    for position, char in enumerate(path):
        if char not in _ALLOWED:
            raise InvalidInput(
                f"the health check path has {_describe(char)} at position {position}: use only "
                "letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @ / ? (percent-encode "
                "anything else, e.g. %20 for a space)"
            )
    if not _HEALTH_PATH.fullmatch(path):
        raise InvalidInput(
            "the health check path is not a valid URL path: '%' must start an escape such as "
            "%20, and no fragment ('#') is allowed"
        )
    return path


def _describe(char: str) -> str:
    if char == " ":
        return "a space"
    if not char.isprintable() or ord(char) < 0x20 or ord(char) == 0x7F:
        return f"a control character (U+{ord(char):04X})"
    if ord(char) > 0x7E:
        return f"a non-ASCII character (U+{ord(char):04X})"
    return f"the character {char!r}"


def validate_health_timing(timeout: float, attempts: int) -> None:
    """Refuse a timeout or a number of attempts out of range, or a check that could try for
    longer than `MAX_CHECK_SECONDS` in total."""
    if not (math.isfinite(timeout) and MIN_TIMEOUT <= timeout <= MAX_TIMEOUT):
        raise InvalidInput(
            f"the health check timeout must be between {MIN_TIMEOUT} and {MAX_TIMEOUT:.0f} seconds"
        )
    if not 1 <= attempts <= MAX_ATTEMPTS:
        raise InvalidInput(f"health check attempts must be between 1 and {MAX_ATTEMPTS}")
    if timeout * attempts > MAX_CHECK_SECONDS:
        raise InvalidInput(
            f"a health check of {attempts} attempts × {timeout:g} s could take "
            f"{timeout * attempts:.0f} s; timeout × attempts may be at most "
            f"{MAX_CHECK_SECONDS:.0f} s: lower one of them"
        )
