"""Branch names and push plans: what a pusher may name, and which update deploys."""

from __future__ import annotations

import pytest

from xae.domain.gitrefs import (
    ZERO_SHA,
    BadUpdate,
    RefUpdate,
    parse_updates,
    plan_push,
    validate_branch,
)
from xae.errors import InvalidInput

OLD, NEW = "a" * 40, "b" * 40


@pytest.mark.parametrize("name", ["main", "release/2.1", "feature_x-y", "v1.0", "a" * 255])
def test_ordinary_branch_names_are_accepted(name: str) -> None:
    assert validate_branch(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a;rm -rf ~",
        "$(id)",
        "`id`",
        "a b",
        "a|b",
        "a&b",
        "-rf",
        "x..y",
        "x//y",
        ".hidden",
        "x/.y",
        "x.lock",
        "x/",
        "HEAD",
        "naïve",
        "a\nb",
        "a" * 256,
    ],
)
def test_names_with_shell_characters_or_that_git_refuses_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="not a usable branch name"):
        validate_branch(name)


def test_a_refusal_shows_control_characters_escaped() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_branch("a\x1b[31mb")
    assert "\x1b" not in caught.value.message and "\\x1b" in caught.value.message


def test_the_hooks_input_is_parsed_line_by_line() -> None:
    text = f"{OLD} {NEW} refs/heads/main\n{ZERO_SHA} {NEW} refs/tags/v1\n"
    assert parse_updates(text) == [
        RefUpdate(OLD, NEW, "refs/heads/main"),
        RefUpdate(ZERO_SHA, NEW, "refs/tags/v1"),
    ]


@pytest.mark.parametrize("line", ["x y refs/heads/main", f"{OLD} {NEW}", f"{OLD} {NEW} a b"])
def test_a_line_git_would_never_send_stops_the_hook(line: str) -> None:
    with pytest.raises(BadUpdate):
        parse_updates(line)


def test_a_push_of_the_deploy_branch_deploys_its_new_commit() -> None:
    update = RefUpdate(OLD, NEW, "refs/heads/main")
    plan = plan_push([RefUpdate(OLD, NEW, "refs/heads/other"), update], "main")
    assert plan == type(plan)(refusals=[], deploy=update)


def test_other_branches_and_tags_are_only_stored() -> None:
    plan = plan_push(
        [RefUpdate(OLD, NEW, "refs/heads/feature"), RefUpdate(ZERO_SHA, NEW, "refs/tags/v1")],
        "main",
    )
    assert plan.refusals == [] and plan.deploy is None


def test_deleting_the_deploy_branch_is_refused_but_another_may_go() -> None:
    plan = plan_push(
        [RefUpdate(OLD, ZERO_SHA, "refs/heads/main"), RefUpdate(OLD, ZERO_SHA, "refs/heads/x")],
        "main",
    )
    assert len(plan.refusals) == 1 and "deploy branch" in plan.refusals[0]
    assert plan.deploy is None


def test_any_refusal_refuses_the_deploy_too() -> None:
    plan = plan_push(
        [RefUpdate(OLD, NEW, "refs/heads/main"), RefUpdate(OLD, NEW, "refs/heads/a;id")], "main"
    )
    assert plan.deploy is None
    assert plan.refusals == [
        "branch 'a;id' is refused: only letters, digits and . _ / - are allowed "
        "(no spaces or shell characters)"
    ]


def test_refs_outside_branches_and_tags_are_refused() -> None:
    plan = plan_push([RefUpdate(OLD, NEW, "refs/notes/commits")], "main")
    assert plan.refusals and "only branches" in plan.refusals[0]


def test_with_previews_on_other_branches_deploy_to_or_close_their_previews() -> None:
    main = RefUpdate(OLD, NEW, "refs/heads/main")
    feature = RefUpdate(OLD, NEW, "refs/heads/feature/login")
    gone = RefUpdate(OLD, ZERO_SHA, "refs/heads/old-idea")
    tag = RefUpdate(ZERO_SHA, NEW, "refs/tags/v1")
    plan = plan_push([feature, main, gone, tag], "main", previews=True)
    assert plan.deploy == main
    assert plan.previews == (feature,)
    assert plan.closed == ("old-idea",)
    # Off (the default), the same push only stores the other branches.
    off = plan_push([feature, main, gone, tag], "main")
    assert (off.deploy, off.previews, off.closed) == (main, (), ())


def test_a_refusal_leaves_no_preview_to_deploy() -> None:
    plan = plan_push(
        [RefUpdate(OLD, NEW, "refs/heads/feature"), RefUpdate(OLD, NEW, "refs/heads/a;b")],
        "main",
        previews=True,
    )
    assert plan.refusals and plan.previews == () and plan.closed == ()
