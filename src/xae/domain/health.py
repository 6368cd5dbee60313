"""An app's health check, in one place: which checks are valid, what a check accepts, and how
its outcome is told to the user. Pure: no I/O.

The path is sent by the control plane (as an HTTP request line) and by the kubelet (as a probe
in a manifest), so a control character or a space in it does not stay a tenant's own problem:
it used to make every reconcile pass fail. Only what RFC 3986 allows in a path and a query
passes, as printable ASCII. The time bound keeps one app's check from holding a rollout (and a
reconcile worker) for hours.

A deploy is reported successful on the strength of this check, so its wording must be exactly
as true as the check: which request was sent (path and `Host`, the app's real host name as the
router sends it), what came back, and the rule that accepted or refused it. Both backends (the
docker instance strategy and the kubernetes orchestrator) say it in these words.

The rule: with a path the user chose (`apps:update --health-path`) only a 2xx or 3xx answer
passes; the default check (`GET /`) accepts any answer below 500, because many apps answer `/`
with 404 or 401 and are still healthy. An app that refuses the check's host (Django's
DisallowedHost answers 400) is asked with the host real requests use, so the check sees what
users see.
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


STRICT_RULE = "only a 2xx or 3xx answer passes"
DEFAULT_RULE = "the default check accepts any answer below 500"
STRICT_HINT = "set `apps:update --health-path` for a strict 2xx/3xx check"


def accepts(status: int, *, strict: bool) -> bool:
    """Whether an HTTP answer with `status` passes the check."""
    if strict:
        return 200 <= status < 400
    return status < 500


def describe(path: str, *, strict: bool, status: int | None, error: str = "") -> str:
    """One line saying what the check saw, e.g. `GET / answered 404: accepted (...)`."""
    if status is None:
        return f"GET {path} got no answer ({error or 'no connection'})"
    if accepts(status, strict=strict):
        if strict or status < 400:
            return f"GET {path} answered {status}: accepted"
        return f"GET {path} answered {status}: accepted ({DEFAULT_RULE}; {STRICT_HINT})"
    rule = STRICT_RULE if strict else DEFAULT_RULE
    return f"GET {path} answered {status}: refused ({rule})"


def check_label(path: str, host: str, attempts: int) -> str:
    """`GET / with Host shop.localhost on $PORT, 120 attempts`: which request the check sends."""
    with_host = f" with Host {host}" if host else ""
    return f"GET {path}{with_host} on $PORT, {attempts} attempts"


def still_serving(serving: str | None) -> str:
    """What users get now: `serving` (e.g. `v2`) keeps serving, or nothing served before."""
    if serving is None:
        return "No earlier release was serving, so the app is not serving yet."
    return f"{serving} keeps serving."


def advice(*, answered: bool, has_log: bool) -> str:
    """What to look at: the app's own error when it answered, else whether it listens; and
    where its output is (below, or nowhere when it wrote none)."""
    if answered:
        first = "The app answers, but with an error: fix what its log reports"
    else:
        first = "Check that the app listens on $PORT (on 0.0.0.0, not only 127.0.0.1)"
    if has_log:
        return f"{first}; its last log lines are below."
    return f"{first}; it wrote nothing to its log (`xae logs` shows what it writes later)."


def gate_failure(
    *, what: str, check: str, saw: str, serving: str | None, has_log: bool, answered: bool
) -> str:
    """The message of a deploy whose new web instances failed the check.

    `what` names the instances (`1 new web instance(s) of v3`), `check` is `check_label(...)`,
    `saw` what the check saw last (`describe(...)`), `serving` what keeps serving (`v2`, or
    None on a first deploy), `has_log` whether log lines follow the message, `answered`
    whether the app answered HTTP at all.
    """
    return " ".join(
        [
            f"{what} did not pass the health check ({check}): {saw}.",
            still_serving(serving),
            advice(answered=answered, has_log=has_log),
        ]
    )
