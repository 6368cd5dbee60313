"""Which user an app's processes run as, decided once from its image's config. Pure; no I/O.

xae's own stack images run as `APP_UID`. A Dockerfile app runs as its image's own `USER`
when that is not root, because the image's files belong to that user (an nginx-style image
whose user owns its cache directories, a virtualenv built by that user). An image whose
`USER` is unset, `root` or `0` needs root: it runs as root *inside a user namespace* only,
where uid 0 is an unprivileged id on the host, or not at all.

The decision is a string stored with the build and carried in the plan (`InstanceSpec.run_as`):
`"<uid>:<gid>"` for a non-root user, `ROOT` for root. A user *name* is resolved to its numeric
uid through the image's own `/etc/passwd` (which the caller reads): a name may map to uid 0,
and Kubernetes' `runAsNonRoot` can only verify numbers. What it must never do: let a name
or an unparsable `USER` through as a non-root user without knowing its number.
"""

from __future__ import annotations

from dataclasses import dataclass

from xae.domain.policy import APP_UID

ROOT = "root"
"""`run_as` of an image that needs root: it may run only inside a user namespace."""

APP_RUN_AS = f"{APP_UID}:{APP_UID}"
"""`run_as` of xae's stack images (and what every app ran as before images chose)."""

IMAGE_USER = "image"
"""`run_as` of an image deployed as is: its own user, which only an engine that holds the image
can read. The docker runtime reads it when it starts the image (`resolved` there); where none
can (a cluster pulling from outside the platform) it means the app user, as it always did."""

ROOT_IN_USERNS = "root (userns)"
"""How `xae ps` and the API show an instance that runs as root inside a user namespace."""


class ImageUserUnknown(ValueError):
    """The image's `USER` names a user or group its own `/etc/passwd` or `/etc/group` lacks."""


@dataclass(frozen=True)
class ImageUser:
    """An image's `USER` (`Config.User`) split into its user and optional group parts."""

    user: str
    group: str

    @classmethod
    def parse(cls, config_user: str | None) -> ImageUser:
        user, _, group = (config_user or "").strip().partition(":")
        return cls(user=user, group=group)


def _entries(text: str) -> dict[str, list[str]]:
    """`name → fields` of a passwd or group file; malformed lines are skipped."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] and not fields[0].startswith("#"):
            rows.setdefault(fields[0], fields)
    return rows


def decide_run_as(config_user: str | None, *, passwd: str = "", group: str = "") -> str:
    """`run_as` for an image built from a Dockerfile whose config says `USER config_user`.

    `passwd` and `group` are the image's own `/etc/passwd` and `/etc/group` (needed unless
    `USER` is root or `<uid>:<gid>` in numbers).
    The group follows Docker's rule: the named or numeric group when given, else the user's
    primary group from `/etc/passwd`, else 0. Raises `ImageUserUnknown` for a name the files
    lack.
    """
    wanted = ImageUser.parse(config_user)
    if wanted.user in ("", ROOT):
        return ROOT
    users = _entries(passwd)
    if wanted.user.isdigit():
        uid = int(wanted.user)
        primary = next((f[3] for f in users.values() if f[2] == wanted.user), "0")
    elif wanted.user in users and users[wanted.user][2].isdigit():
        uid, primary = int(users[wanted.user][2]), users[wanted.user][3]
    else:
        raise ImageUserUnknown(f"the image's USER {wanted.user[:64]!r} is not in its /etc/passwd")
    if uid == 0:
        return ROOT
    gid_text = wanted.group or primary
    if not gid_text.isdigit():
        groups = _entries(group)
        if gid_text not in groups or not groups[gid_text][2].isdigit():
            raise ImageUserUnknown(f"the image's group {gid_text[:64]!r} is not in its /etc/group")
        gid_text = groups[gid_text][2]
    return f"{uid}:{int(gid_text)}"


def _known(run_as: str) -> str:
    return APP_RUN_AS if run_as == IMAGE_USER else run_as


def uid_of(run_as: str) -> int:
    """The numeric uid of a `run_as` (0 for `ROOT`; the app user's for an unread `IMAGE_USER`)."""
    return 0 if run_as == ROOT else int(_known(run_as).partition(":")[0])


def gid_of(run_as: str) -> int:
    """The numeric gid of a `run_as` (0 for `ROOT`; the app user's for an unread `IMAGE_USER`)."""
    return 0 if run_as == ROOT else int(_known(run_as).partition(":")[2] or 0)


def shown_user(run_as: str) -> str:
    """What `xae ps` shows: the uid (`10001`), or `root (userns)`."""
    return ROOT_IN_USERNS if run_as == ROOT else str(uid_of(run_as))
