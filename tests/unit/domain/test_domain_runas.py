"""Who an image runs as, decided from its USER and its own /etc/passwd and /etc/group."""

from __future__ import annotations

import pytest

from xae.domain.runas import (
    APP_RUN_AS,
    ROOT,
    ImageUserUnknown,
    decide_run_as,
    gid_of,
    shown_user,
    uid_of,
)

PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "nginx:x:101:101:nginx user:/nonexistent:/bin/false\n"
    "toor:x:0:0:a second root:/root:/bin/sh\n"
    "web:x:2345:2345::/home/web:/bin/sh\n"
    "broken line\n"
)
GROUP = "root:x:0:\nnginx:x:101:\nstaff:x:50:web\n"


@pytest.mark.parametrize("user", ["", None, "root", "0", "0:0", "root:staff", " "])
def test_an_image_without_a_user_or_with_root_needs_root(user: str | None) -> None:
    assert decide_run_as(user, passwd=PASSWD, group=GROUP) == ROOT


def test_a_name_that_is_uid_0_in_the_images_passwd_is_root() -> None:
    assert decide_run_as("toor", passwd=PASSWD, group=GROUP) == ROOT


def test_a_named_user_runs_as_its_number_and_primary_group() -> None:
    assert decide_run_as("nginx", passwd=PASSWD, group=GROUP) == "101:101"
    assert decide_run_as("web:staff", passwd=PASSWD, group=GROUP) == "2345:50"


def test_a_numeric_user_keeps_its_number_and_takes_its_group_as_docker_does() -> None:
    assert decide_run_as("2345", passwd=PASSWD) == "2345:2345"  # its passwd entry's group
    assert decide_run_as("1001", passwd=PASSWD) == "1001:0"  # no entry: group 0, as Docker
    assert decide_run_as("1001:1001") == "1001:1001"
    assert decide_run_as("10001:10001") == APP_RUN_AS


@pytest.mark.parametrize("user", ["nobody-here", "web:nogroup", "x" * 500])
def test_a_name_the_image_lacks_is_an_error_not_a_guess(user: str) -> None:
    with pytest.raises(ImageUserUnknown) as caught:
        decide_run_as(user, passwd=PASSWD, group=GROUP)
    assert len(str(caught.value)) < 200


def test_run_as_splits_into_ids_and_shows_as_ps_does() -> None:
    assert (uid_of(APP_RUN_AS), gid_of(APP_RUN_AS)) == (10001, 10001)
    assert (uid_of(ROOT), gid_of(ROOT)) == (0, 0)
    assert shown_user(APP_RUN_AS) == "10001"
    assert shown_user(ROOT) == "root (userns)"
