"""Which builds' images an app keeps: the newest N released, plus current, split, running and
not-yet-released builds; nothing else."""

from __future__ import annotations

import pytest

from xae.domain.gc import ReleaseRow, keep_builds


def releases(*rows: tuple[int, int | None, bool]) -> list[ReleaseRow]:
    return [ReleaseRow(version, build, ok) for version, build, ok in rows]


def test_eight_deploys_with_keep_three_keep_the_newest_three_builds() -> None:
    rows = releases(*((v, v * 10, True) for v in range(1, 9)))
    assert keep_builds(rows, keep=3, current=8) == {80, 70, 60}


def test_config_changes_that_reuse_a_build_do_not_use_up_the_kept_images() -> None:
    # v2 and v3 are config changes of build 10; v4 a deploy of 20; v5 a config change of 20.
    rows = releases((1, 5, True), (2, 10, True), (3, 10, True), (4, 20, True), (5, 20, True))
    assert keep_builds(rows, keep=2, current=5) == {20, 10}


def test_the_current_release_is_kept_even_when_older_than_the_newest_n() -> None:
    # A rollback made v5 (of build 10) current... then two failed deploys.
    rows = releases((1, 10, True), (2, 20, True), (3, 30, True), (4, 40, False), (5, 50, False))
    assert keep_builds(rows, keep=1, current=1) == {30, 10}


def test_releases_in_a_split_and_releases_still_running_are_kept() -> None:
    rows = releases(*((v, v, True) for v in range(1, 10)))
    kept = keep_builds(rows, keep=2, current=9, in_split=[3], running=[5, 9])
    assert kept == {9, 8, 3, 5}


def test_failed_releases_do_not_count_as_rollback_targets() -> None:
    rows = releases((1, 1, True), (2, 2, False), (3, 3, False), (4, 4, True))
    assert keep_builds(rows, keep=2, current=4) == {4, 1}


def test_a_build_newer_than_every_release_is_on_its_way_and_kept() -> None:
    rows = releases((1, 1, True), (2, 2, True))
    assert keep_builds(rows, keep=1, current=2, builds=[1, 2, 3, 4]) == {2, 3, 4}


def test_an_app_without_releases_keeps_its_builds_in_progress() -> None:
    assert keep_builds([], keep=5, current=None, builds=[7]) == {7}


def test_keeping_nothing_is_refused() -> None:
    with pytest.raises(ValueError):
        keep_builds([], keep=0, current=None)
