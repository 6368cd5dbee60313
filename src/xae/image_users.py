"""Reads which user an image on the local engine runs as, for `xae.domain.runas` to decide.

Used by the builder (after a Dockerfile build) and by the docker runtime (before it starts an
image deployed as is), which share no layer; so it lives beside `xae.docker_client`.

Most images say `USER 101` or nothing, and the image's config (`docker image inspect`) is
enough. A `USER nginx` needs the image's own `/etc/passwd` to know its number (a name may be
uid 0), which is read by copying the file out of a created, never started, container: no
tenant code runs here. The container is removed whatever happens.
"""

from __future__ import annotations

import io
import tarfile
from typing import Any

import docker
import docker.errors

from xae.domain.runas import ROOT, ImageUser, decide_run_as

_MAX_FILE = 1024 * 1024
"""An `/etc/passwd` or `/etc/group` bigger than this is not read (and its names not found)."""


def _read_file(client: docker.DockerClient, container: str, path: str) -> str:
    try:
        stream, _ = client.api.get_archive(container, path)
    except docker.errors.NotFound:
        return ""
    data = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.size <= _MAX_FILE:
                handle = tar.extractfile(member)
                if handle is not None:
                    return handle.read().decode(errors="replace")
    return ""


def _user_files(client: docker.DockerClient, image_id: str) -> tuple[str, str]:
    """The image's `/etc/passwd` and `/etc/group` ("" when missing)."""
    created: dict[str, Any] = client.api.create_container(
        image_id, command=["/nonexistent"], entrypoint=[], network_disabled=True
    )
    try:
        return _read_file(client, created["Id"], "/etc/passwd"), _read_file(
            client, created["Id"], "/etc/group"
        )
    finally:
        client.api.remove_container(created["Id"], force=True)


def image_run_as(client: docker.DockerClient, image_id: str, inspect: dict[str, Any]) -> str:
    """`run_as` of the image `image_id` (whose `inspect_image` answer is `inspect`) on the
    engine: its own `USER`, `ROOT` when that is root.

    Raises `ImageUserUnknown` when its `USER` names a user the image does not have, and
    Docker's `APIError` when the engine cannot show the image's files.
    """
    config_user = str((inspect.get("Config") or {}).get("User") or "")
    passwd = group = ""
    wanted = ImageUser.parse(config_user)
    numeric = wanted.user.isdigit() and wanted.group.isdigit()
    if wanted.user not in ("", ROOT) and not numeric:
        passwd, group = _user_files(client, image_id)
    return decide_run_as(config_user, passwd=passwd, group=group)
