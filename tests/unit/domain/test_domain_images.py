"""The validation gate for `xae deploy --image`: reference, port and command."""

from __future__ import annotations

import pytest

from xae.domain.images import (
    COMMAND_MAX,
    IMAGE_REF_MAX,
    validate_command,
    validate_image_ref,
    validate_port,
)
from xae.errors import InvalidInput

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "ref",
    [
        "nginx",
        "nginx:1.27",
        "nginx:latest",
        "library/nginx:1.27-alpine",
        "xae/app-shop:e2e1a2b-b1",
        "localhost:5000/shop:v2",
        "127.0.0.1:5000/team/shop",
        "registry.example.com/team/sub/shop:v1.2.3_rc1",
        "Registry.Example.com:443/shop",  # the registry host is case-insensitive
        "ghcr.io/acme/my_app__x.y-z:TAG",
        f"ghcr.io/acme/shop@{DIGEST}",
        f"ghcr.io/acme/shop:v1@{DIGEST}",
        "a" * IMAGE_REF_MAX,
    ],
)
def test_docker_style_references_are_accepted_as_given(ref: str) -> None:
    assert validate_image_ref(ref) == ref


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("", "is required"),
        ("a" * (IMAGE_REF_MAX + 1), "use at most 255"),
        ("nginx latest", "spaces or control characters"),
        (" nginx", "spaces or control characters"),
        ("nginx\n", "spaces or control characters"),
        ("nginx:1\x00", "spaces or control characters"),
        ("nginx\t", "spaces or control characters"),
        ("Nginx", "lowercase name"),
        ("team/MyApp:1", "lowercase name"),
        ("nginx:", "not valid"),
        ("nginx:-x", "not valid"),  # a tag cannot start with a dash
        ("nginx:" + "t" * 129, "not valid"),  # tags are at most 128 characters
        ("nginx@sha256:abc", "not valid"),  # a digest is 64 hex digits
        ("nginx@md5:" + "a" * 32, "not valid"),
        ("--privileged", "not valid"),  # never an option in disguise
        ("-nginx", "not valid"),
        ("nginx;rm -rf /", "spaces or control characters"),
        ("nginx$(id)", "not valid"),
        ("../etc/passwd", "not valid"),
        ("/nginx", "not valid"),
        ("nginx/", "not valid"),
        ("a//b", "not valid"),
        ("registry:port/nginx", "not valid"),
        ("https://ghcr.io/acme/shop", "not valid"),
        ("ngínx", "not valid"),
    ],
)
def test_bad_references_are_refused_saying_how_to_write_one(ref: str, says: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_image_ref(ref)
    assert says in raised.value.message
    assert raised.value.code == "invalid_input"


def test_the_refusal_of_a_malformed_reference_shows_the_form_and_an_example() -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_image_ref("Shop:1")
    assert "[registry[:port]/]name[:tag][@sha256:digest]" in raised.value.message
    assert "nginx:1.27" in raised.value.message


@pytest.mark.parametrize("port", [1, 80, 5000, 65535])
def test_ports_in_range_are_accepted(port: int) -> None:
    assert validate_port(port) == port


@pytest.mark.parametrize("port", [0, -1, 65536, 100000])
def test_ports_out_of_range_are_refused_saying_the_range(port: int) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_port(port)
    assert "between 1 and 65535" in raised.value.message


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("", ""),
        ("   ", ""),
        ("serve-static", "serve-static"),
        ("  gunicorn --bind 0.0.0.0:$PORT app:app ", "gunicorn --bind 0.0.0.0:$PORT app:app"),
    ],
)
def test_commands_are_one_stripped_line_and_empty_means_the_image_cmd(
    command: str, expected: str
) -> None:
    assert validate_command(command) == expected


@pytest.mark.parametrize("command", ["a\nb", "a\rb", "run\x00", "x\x1b[2J"])
def test_commands_with_line_breaks_or_control_characters_are_refused(command: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_command(command)
    assert "one line" in raised.value.message


def test_an_overlong_command_is_refused() -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_command("x" * (COMMAND_MAX + 1))
    assert f"at most {COMMAND_MAX}" in raised.value.message
