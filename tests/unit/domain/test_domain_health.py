"""The health check gate: only printable URL path characters, and a bounded total time."""

from __future__ import annotations

import pytest

from xae.domain.health import (
    HEALTH_PATH_MAX,
    MAX_CHECK_SECONDS,
    validate_health_path,
    validate_health_timing,
)
from xae.errors import InvalidInput


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/up",
        "/health/ready",
        "/healthz?full=1&x=a%20b",
        "/a-b_c.d~e!$&'()*+,;=:@",
        "/q?a/b?c",
        "/" + "a" * (HEALTH_PATH_MAX - 1),
    ],
)
def test_url_paths_pass(path: str) -> None:
    assert validate_health_path(path) == path


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("up", "must start with '/'"),
        ("", "must start with '/'"),
        ("/a\tb", r"a control character \(U\+0009\) at position 2"),
        ("/up\r\nHost: evil", r"control character \(U\+000D\)"),
        ("/up\nX", r"control character \(U\+000A\)"),
        ("/up\x00", r"control character \(U\+0000\)"),
        ("/up\x7f", r"control character \(U\+007F\)"),
        ("/a b", "a space at position 2"),
        ("/caf\u00e9", r"non-ASCII character \(U\+00E9\)"),
        ("/a\u2028b", r"U\+2028"),
        ("/a<b>", "the character '<'"),
        ('/a"b', "the character '\"'"),
        ("/a\\b", "the character"),
        ("/up#frag", "the character '#'"),
        ("/a%zz", "'%' must start an escape"),
        ("/a%2", "'%' must start an escape"),
        ("//evil.example/x", "must not start with '//'"),
        ("/" + "a" * HEALTH_PATH_MAX, f"use at most {HEALTH_PATH_MAX}"),
    ],
)
def test_unsafe_paths_are_refused_saying_why(path: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate_health_path(path)


def test_the_error_never_contains_the_raw_control_character() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_health_path("/up\r\nSet-Cookie: x")
    assert "\r" not in caught.value.message and "\n" not in caught.value.message


@pytest.mark.parametrize(("timeout", "attempts"), [(2.0, 120), (60, 10), (0.1, 1000), (0.6, 1000)])
def test_checks_within_the_bound_pass(timeout: float, attempts: int) -> None:
    validate_health_timing(timeout, attempts)


@pytest.mark.parametrize(
    ("timeout", "attempts", "message"),
    [
        (60, 1000, f"timeout × attempts may be at most {MAX_CHECK_SECONDS:.0f} s"),
        (60, 11, "could take 660 s"),
        (0.05, 10, "timeout must be between"),
        (61, 1, "timeout must be between"),
        (float("nan"), 1, "timeout must be between"),
        (float("inf"), 1, "timeout must be between"),
        (1, 0, "attempts must be between"),
        (0.1, 1001, "attempts must be between"),
    ],
)
def test_checks_out_of_range_or_too_long_are_refused(
    timeout: float, attempts: int, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate_health_timing(timeout, attempts)
