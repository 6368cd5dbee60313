"""What the health check accepts and how its outcome is worded: true in each case."""

from __future__ import annotations

import pytest

from xae.domain.health import accepts, advice, describe, gate_failure, still_serving


@pytest.mark.parametrize(
    ("status", "strict", "ok"),
    [
        (200, True, True),
        (302, True, True),
        (404, True, False),
        (500, True, False),
        (200, False, True),
        (404, False, True),
        (400, False, True),
        (500, False, False),
        (503, False, False),
    ],
)
def test_the_default_check_accepts_below_500_and_a_set_path_only_2xx_3xx(
    status: int, strict: bool, ok: bool
) -> None:
    assert accepts(status, strict=strict) is ok


def test_an_accepted_4xx_says_which_rule_let_it_pass_and_how_to_be_strict() -> None:
    line = describe("/", strict=False, status=404)
    assert line.startswith("GET / answered 404: accepted")
    assert "accepts any answer below 500" in line
    assert "apps:update --health-path" in line
    assert describe("/", strict=False, status=200) == "GET / answered 200: accepted"


def test_a_refused_answer_and_no_answer_are_told_apart() -> None:
    assert describe("/up", strict=True, status=404) == (
        "GET /up answered 404: refused (only a 2xx or 3xx answer passes)"
    )
    assert "refused (the default check accepts any answer below 500)" in describe(
        "/", strict=False, status=500
    )
    assert describe("/", strict=False, status=None, error="connection refused") == (
        "GET / got no answer (connection refused)"
    )


def test_a_first_deploy_does_not_claim_a_previous_release_serves() -> None:
    assert "keeps serving" not in still_serving(None)
    assert still_serving("v2") == "v2 keeps serving."


def test_below_is_said_only_when_lines_follow() -> None:
    assert advice(answered=False, has_log=True).endswith("its last log lines are below.")
    nothing = advice(answered=False, has_log=False)
    assert "below" not in nothing and "wrote nothing to its log" in nothing


def test_an_app_that_answered_is_not_told_to_check_its_port() -> None:
    message = gate_failure(
        what="1 new web instance(s) of v1",
        check="GET / with Host shop.localhost on $PORT, 3 attempts",
        saw=describe("/", strict=False, status=500),
        serving=None,
        has_log=True,
        answered=True,
    )
    assert "listens on $PORT" not in message
    assert "answered 500: refused" in message
    assert "No earlier release was serving" in message
