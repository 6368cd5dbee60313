"""The one backoff rule: each failure in a row doubles the wait up to a cap; jitter shortens."""

from __future__ import annotations

import pytest

from xae.domain.backoff import Backoff


def test_each_failure_in_a_row_doubles_the_wait_up_to_the_cap() -> None:
    policy = Backoff(first=2.0, cap=30.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert policy.delay(10_000) == 30.0  # a very long run of failures neither overflows nor grows


def test_jitter_only_shortens_a_wait_and_by_at_most_its_share() -> None:
    policy = Backoff(first=2.0, cap=30.0, jitter=0.2)
    assert policy.delay(3, rand=0.0) == 8.0
    assert policy.delay(3, rand=0.999) == pytest.approx(8.0 * 0.8, rel=1e-3)
    assert all(24.0 <= policy.delay(9, rand=r / 10) <= 30.0 for r in range(10))


def test_no_failure_means_no_wait() -> None:
    assert Backoff(first=1.0, cap=5.0).delay(0) == 0.0


@pytest.mark.parametrize(
    "values", [{"first": 0, "cap": 1}, {"first": 2, "cap": 1}, {"first": 1, "cap": 2, "jitter": 1}]
)
def test_a_policy_that_cannot_back_off_is_refused(values: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**values)
