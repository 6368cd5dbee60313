"""What a health check accepts, and how its outcome is told to the user. Pure: no I/O.

A deploy is reported successful on the strength of this check, so its wording must be exactly
as true as the check: which request was sent (path and `Host`, the app's real host name as the
router sends it), what came back, and the rule that accepted or refused it. Both backends (the
docker converger and the kubernetes orchestrator) say it in these words.

The rule: with a path the user chose (`apps:update --health-path`) only a 2xx or 3xx answer
passes; the default check (`GET /`) accepts any answer below 500, because many apps answer `/`
with 404 or 401 and are still healthy. An app that refuses the check's host (Django's
DisallowedHost answers 400) is asked with the host real requests use, so the check sees what
users see.
"""

from __future__ import annotations

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
