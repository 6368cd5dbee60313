"""Branch names become preview app names that are DNS labels; idle times parse with bounds."""

from __future__ import annotations

import pytest

from xae.domain.names import APP_NAME_MAX, validate_app_name, validate_new_app_name
from xae.domain.previews import branch_label, format_idle, parse_idle, preview_name
from xae.errors import InvalidInput, InvalidName


@pytest.mark.parametrize(
    ("branch", "expected"),
    [
        ("Feature/Login_Page!", "shop--feature-login-page"),
        ("main", "shop--main"),
        ("fix--double", "shop--fix-double"),
        ("--dashes--", "shop--dashes"),
        ("123-hotfix", "shop--123-hotfix"),
        ("émoji🚀/x", "shop--moji-x"),
        ("a" * 100, "shop--" + "a" * (APP_NAME_MAX - 6)),
        ("feature/" + "b" * 17 + "-c", "shop--feature-" + "b" * 16),
    ],
)
def test_branches_become_valid_app_names(branch: str, expected: str) -> None:
    name = preview_name("shop", branch)
    assert name == expected
    assert len(name) <= APP_NAME_MAX
    assert validate_app_name(name) == name


def test_truncation_never_leaves_a_trailing_dash() -> None:
    # The cut falls right after a dash: it is trimmed, the name stays valid.
    name = preview_name("shop", "x" * 23 + "-yyyy")
    assert not name.endswith("-")
    assert validate_app_name(name) == name


def test_two_branches_may_map_to_one_name_which_the_store_then_refuses() -> None:
    assert preview_name("shop", "feature/a") == preview_name("shop", "Feature_A")


@pytest.mark.parametrize("branch", ["", "!!!", "///", "x" * 256, "bad\nline", "tab\there"])
def test_branches_without_a_usable_name_are_refused(branch: str) -> None:
    with pytest.raises(InvalidInput):
        preview_name("shop", branch)


def test_previews_of_previews_are_refused() -> None:
    with pytest.raises(InvalidInput, match="is a preview app itself"):
        preview_name("shop--x", "y")


def test_a_two_letter_app_cannot_have_previews_named_like_punycode() -> None:
    with pytest.raises(InvalidInput, match="punycode"):
        preview_name("ab", "feature")


def test_an_app_name_too_long_for_a_branch_is_refused_saying_the_limit() -> None:
    with pytest.raises(InvalidInput, match="no room"):
        preview_name("a" * 28, "x")


def test_users_cannot_create_app_names_with_a_double_dash() -> None:
    with pytest.raises(InvalidName, match="preview apps"):
        validate_new_app_name("shop--feature")
    assert validate_new_app_name("shop-feature") == "shop-feature"


@pytest.mark.parametrize("name", ["my--app", "shop--", "--shop", "shop--a--b", "shop---x"])
def test_double_dashes_outside_the_preview_form_stay_invalid(name: str) -> None:
    with pytest.raises(InvalidName):
        validate_app_name(name)


def test_branch_label_keeps_letters_digits_and_single_dashes() -> None:
    assert branch_label("Release/2026.12_rc1") == "release-2026-12-rc1"


@pytest.mark.parametrize(
    ("text", "seconds"), [("3d", 259200), ("12h", 43200), ("30m", 1800), ("90s", 90), ("1", 1)]
)
def test_idle_times_parse(text: str, seconds: int) -> None:
    assert parse_idle(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "3y", "-1d", "1.5h", "400d", "d"])
def test_bad_idle_times_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_idle(text)


def test_idle_times_format_in_their_largest_unit() -> None:
    assert [format_idle(s) for s in (259200, 7200, 90, 1209600)] == ["3d", "2h", "90s", "2w"]
