"""The rules of a weighted split, as the CLI and the API both apply them."""

from __future__ import annotations

import pytest

from xae.domain.splits import Share, parse_share, validate_shares
from xae.errors import InvalidInput


def test_a_share_is_read_with_or_without_the_v() -> None:
    assert parse_share("v7=90") == Share(7, 90)
    assert parse_share("8=10") == Share(8, 10)
    assert Share(7, 90).label == "v7"


@pytest.mark.parametrize("text", ["v7", "v7=", "=10", "v7=ten", "v7=10%", "vv7=1", "v7=1;x", ""])
def test_anything_but_vN_equals_a_number_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"vN=PERCENT"):
        parse_share(text)


def test_a_refused_share_is_not_echoed_when_it_is_long_or_unprintable() -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_share("v7=\x1b[31m" + "x" * 100)
    assert "\x1b" not in raised.value.message
    assert "xxxx" not in raised.value.message


def test_weights_adding_up_to_100_between_two_to_five_releases_make_a_split() -> None:
    shares = [Share(7, 90), Share(8, 10)]
    assert validate_shares(shares) == shares
    assert validate_shares([Share(v, 20) for v in range(1, 6)])
    assert validate_shares([Share(7, 100), Share(8, 0)])


def test_weights_that_do_not_add_up_to_100_are_refused_with_the_sum() -> None:
    with pytest.raises(InvalidInput, match=r"add up to 110 \(90\+20\), not 100"):
        validate_shares([Share(7, 90), Share(8, 20)])


@pytest.mark.parametrize("count", [0, 1, 6])
def test_fewer_than_two_or_more_than_five_releases_are_refused(count: int) -> None:
    shares = [Share(v, 0) for v in range(1, count + 1)]
    with pytest.raises(InvalidInput, match=r"2 to 5 releases"):
        validate_shares(shares)


def test_a_release_named_twice_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"v7 is named twice"):
        validate_shares([Share(7, 50), Share(7, 50)])


def test_a_weight_outside_0_to_100_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"weight of v8 is 101"):
        validate_shares([Share(7, 0), Share(8, 101)])
    with pytest.raises(InvalidInput, match=r"weight of v7 is -1"):
        validate_shares([Share(7, -1), Share(8, 101)])


def test_version_zero_is_not_a_release() -> None:
    with pytest.raises(InvalidInput, match=r"v0 is not a release"):
        validate_shares([Share(0, 50), Share(1, 50)])
