"""Which builds' images an app keeps: the newest N released, plus current, split, running and
not-yet-released builds; nothing else. And which tags of images pulled for image deploys go."""

from __future__ import annotations

import pytest

from xae.domain.gc import (
    PulledImage,
    ReleaseRow,
    keep_builds,
    pulled_key,
    pulled_marker,
    pulled_removals,
)


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


# Images pulled for image deploys: which tags a pass removes.

DIGEST = "sha256:" + "a" * 64


def marker(image: str, plane: str = "p1") -> str:
    return pulled_marker(plane, image)


def pulled(*tags: str, markers: tuple[str, ...] = ()) -> PulledImage:
    return PulledImage("sha256:1", frozenset(marker(m) for m in markers), frozenset(tags))


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.27", "index.docker.io/library/nginx:1.27"),
        ("acme/shop:v2", "docker.io/acme/shop:v2"),
        (f"ghcr.io/acme/shop:v2@{DIGEST}", f"ghcr.io/acme/shop@{DIGEST}"),
    ],
)
def test_spellings_the_engine_reads_as_one_reference_have_one_marker(one: str, other: str) -> None:
    assert pulled_key(one) == pulled_key(other)
    assert marker(one) == marker(other)
    assert marker(one).startswith("xae/pulled-p1:")


def test_other_references_and_planes_have_other_markers() -> None:
    assert pulled_key("nginx:1.27") != pulled_key("nginx:1.28")
    assert pulled_key("ghcr.io/nginx:1.27") != pulled_key("nginx:1.27")
    assert marker("nginx:1.27", "p1") != marker("nginx:1.27", "p2")


def test_an_image_no_release_keeps_loses_its_reference_then_its_marker() -> None:
    image = pulled("nginx:1.27", f"nginx@{DIGEST}", markers=("nginx:1.27",))
    assert pulled_removals([image], set()) == [(image, ["nginx:1.27", marker("nginx:1.27")])]


def test_an_image_pulled_by_digest_loses_its_digest_reference() -> None:
    ref = f"ghcr.io/acme/shop@{DIGEST}"
    image = pulled(ref, markers=(ref,))
    assert pulled_removals([image], set()) == [(image, [ref, marker(ref)])]


def test_an_image_a_kept_release_names_stays_whole() -> None:
    image = pulled("nginx:1.27", markers=("nginx:1.27",))
    assert pulled_removals([image], {pulled_key("docker.io/library/nginx:1.27")}) == []


def test_of_an_image_pulled_by_two_references_only_the_unused_one_goes() -> None:
    image = pulled("nginx:1.27", "nginx:stable", markers=("nginx:1.27", "nginx:stable"))
    removals = pulled_removals([image], {pulled_key("nginx:1.27")})
    assert removals == [(image, ["nginx:stable", marker("nginx:stable")])]


def test_a_reference_another_plane_pulled_too_stays_with_its_marker() -> None:
    image = pulled("nginx:1.27", marker("nginx:1.27", "p2"), markers=("nginx:1.27",))
    assert pulled_removals([image], set()) == [(image, [marker("nginx:1.27")])]


def test_tags_no_marker_names_are_never_removed() -> None:
    """The operator's own tag on the same image, and anything in xae's namespace (another app's
    build, should a pulled image be byte for byte one), stay and keep the image."""
    image = pulled("nginx:1.27", "mine:v1", "xae/app-shop:b3", markers=("nginx:1.27",))
    assert pulled_removals([image], set()) == [(image, ["nginx:1.27", marker("nginx:1.27")])]
