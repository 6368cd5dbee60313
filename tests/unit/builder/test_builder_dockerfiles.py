"""An app's Dockerfile made buildable by the confined classic builder: BuildKit-only syntax
translated or refused, and FROM lines through a registry mirror."""

from __future__ import annotations

import pytest

from xae.builder.dockerfiles import prepare
from xae.errors import BuildFailed


def test_a_cache_mount_is_dropped_and_the_command_kept_with_line_numbers() -> None:
    text = (
        "# syntax=docker/dockerfile:1.7\n"
        "FROM xae/base\n"
        "RUN --mount=type=cache,target=/root/.npm,sharing=locked \\\n"
        "    # a comment inside the instruction\n"
        "    npm ci \\\n"
        "    --omit=dev\n"
        'CMD ["node", "server.js"]\n'
    )
    prepared = prepare(text)
    lines = prepared.text.split("\n")
    assert lines[0] == ""  # the syntax directive, gone
    assert lines[2] == "RUN npm ci     --omit=dev"
    assert lines[6] == 'CMD ["node", "server.js"]', "later lines keep their numbers"
    assert len(prepared.notes) == 2
    assert "ignoring `# syntax=docker/dockerfile:1.7`" in prepared.notes[0]
    assert "line 3: RUN --mount=type=cache dropped" in prepared.notes[1]


def test_several_mounts_and_tmpfs_are_dropped() -> None:
    text = "FROM x\nRUN --mount=type=cache,target=/a --mount=type=tmpfs,target=/b make\n"
    assert prepare(text).text.split("\n")[1] == "RUN make"


@pytest.mark.parametrize(
    ("run", "says"),
    [
        ("RUN --mount=type=secret,id=npmrc cat /run/secrets/npmrc", "type=secret is not available"),
        ("RUN --mount=type=ssh git clone x", "type=ssh is not available"),
        ("RUN --mount=target=/src make", "type=bind is not available"),
        ("RUN --network=host curl x", "RUN --network is not available"),
        ("RUN --security=insecure x", "RUN --security is not available"),
    ],
)
def test_flags_that_cannot_be_had_safely_are_refused_naming_the_line(run: str, says: str) -> None:
    with pytest.raises(BuildFailed) as e:
        prepare(f"FROM x\n\n{run}\n")
    assert says in e.value.message
    assert "line 3" in e.value.message


def test_a_dockerfile_without_buildkit_syntax_is_unchanged() -> None:
    text = "# escape=\\\nFROM x AS build\nRUN make \\\n  all\nFROM build\nCOPY --from=build /a /a\n"
    prepared = prepare(text)
    assert prepared.text == text
    assert prepared.notes == []


@pytest.mark.parametrize(
    ("line", "becomes"),
    [
        ("FROM redis:7", "FROM mirror.example:5000/library/redis:7"),
        ("FROM bitnami/redis:7.2 AS cache", "FROM mirror.example:5000/bitnami/redis:7.2 AS cache"),
        (
            "FROM --platform=linux/amd64 node",
            "FROM --platform=linux/amd64 mirror.example:5000/library/node",
        ),
        ("from python:3.12-slim", "from mirror.example:5000/library/python:3.12-slim"),
        ("FROM ghcr.io/org/app:1", "FROM ghcr.io/org/app:1"),
        ("FROM localhost/own:1", "FROM localhost/own:1"),
        ("FROM 127.0.0.1:5000/own:1", "FROM 127.0.0.1:5000/own:1"),
        ("FROM scratch", "FROM scratch"),
        ("FROM ${BASE}", "FROM ${BASE}"),
    ],
)
def test_docker_hub_images_come_through_the_mirror(line: str, becomes: str) -> None:
    prepared = prepare(f"{line}\n", mirror="mirror.example:5000")
    assert prepared.text == f"{becomes}\n"
    assert bool(prepared.notes) == (line != becomes)


def test_a_stage_name_is_never_mirrored() -> None:
    text = "FROM node:22 AS deps\nFROM deps AS build\nFROM deps\n"
    prepared = prepare(text, mirror="m:5000")
    assert prepared.text.split("\n")[:3] == [
        "FROM m:5000/library/node:22 AS deps",
        "FROM deps AS build",
        "FROM deps",
    ]


def test_without_a_mirror_from_lines_stay_as_written() -> None:
    assert prepare("FROM redis:7\n").text == "FROM redis:7\n"
