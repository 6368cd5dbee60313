"""Whose image may an app deploy, read the way the engine reads a reference; and what a failed
pull may say (its kind, never the registry's words)."""

from __future__ import annotations

import pytest

from xae.domain.images import (
    ImageRef,
    choose_image,
    describe_pull_failure,
    parse_image_ref,
)
from xae.errors import ImageNotAllowed, InvalidInput

DIGEST = "sha256:" + "b" * 64
ID = "3db4639b4b4fc61b5c237db501a9e4c09cce4e8917269ecdf992b312c26e63e7"
SHOP_BUILDS = ["xae/app-shop:b3", "xae/app-shop:e2e1-b7"]
PUSHED_BUILDS = ["127.0.0.1:5000/xae/app-shop:b9"]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("nginx", ImageRef("docker.io", "library/nginx", None, None)),
        ("nginx:1.27", ImageRef("docker.io", "library/nginx", "1.27", None)),
        ("docker.io/nginx:1", ImageRef("docker.io", "library/nginx", "1", None)),
        ("index.docker.io/library/nginx:1", ImageRef("docker.io", "library/nginx", "1", None)),
        ("xae/app-x:b1", ImageRef("docker.io", "xae/app-x", "b1", None)),
        ("docker.io/xae/app-x:b1", ImageRef("docker.io", "xae/app-x", "b1", None)),
        ("index.docker.io/xae/app-x:b1", ImageRef("docker.io", "xae/app-x", "b1", None)),
        ("registry-1.docker.io/xae/app-x:b1", ImageRef("docker.io", "xae/app-x", "b1", None)),
        ("registry.hub.docker.com/xae/app-x", ImageRef("docker.io", "xae/app-x", None, None)),
        ("DOCKER.IO/xae/app-x:b1", ImageRef("docker.io", "xae/app-x", "b1", None)),
        ("localhost/shop", ImageRef("localhost", "shop", None, None)),
        ("localhost:5000/shop:v2", ImageRef("localhost:5000", "shop", "v2", None)),
        ("127.0.0.1:5000/xae/app-x:b1", ImageRef("127.0.0.1:5000", "xae/app-x", "b1", None)),
        ("Reg.Example.com/a/b:v1", ImageRef("reg.example.com", "a/b", "v1", None)),
        (f"ghcr.io/acme/shop:v1@{DIGEST}", ImageRef("ghcr.io", "acme/shop", "v1", DIGEST)),
        (f"xae/app-x@{DIGEST}", ImageRef("docker.io", "xae/app-x", None, DIGEST)),
    ],
)
def test_references_are_normalised_as_the_engine_reads_them(ref: str, expected: ImageRef) -> None:
    assert parse_image_ref(ref) == expected


def test_a_capitalised_first_component_that_is_no_registry_is_an_invalid_name() -> None:
    with pytest.raises(InvalidInput, match="lowercase"):
        parse_image_ref("XAE/app-x:b1")


@pytest.mark.parametrize(
    "ref",
    [
        "xae/app-other:b1",
        "docker.io/xae/app-other:b1",
        "index.docker.io/xae/app-other:b1",
        "registry-1.docker.io/xae/app-other:b1",
        "DOCKER.io/xae/app-other:b1",
        "xae/app-other",
        "127.0.0.1:5000/xae/app-other:b1",
        "localhost:5000/xae/app-other:b1",
        "ghcr.io/xae/app-other:b1",
        "xae/stack-python:latest",
        "xae/base:latest",
        "xae/rootfs:bookworm",
        "docker.io/xae/base",
    ],
)
def test_anything_in_xaes_namespace_that_the_app_did_not_build_is_refused(ref: str) -> None:
    with pytest.raises(ImageNotAllowed) as raised:
        choose_image(ref, app="shop", built=SHOP_BUILDS + PUSHED_BUILDS)
    assert raised.value.code == "image_not_allowed"
    assert raised.value.status == 403
    assert "not a build of app shop" in raised.value.message
    assert "xae releases --app shop" in raised.value.message


@pytest.mark.parametrize(
    "ref",
    [
        "xae/app-shop:b1",  # not a build of shop's (e.g. another plane's app `shop`)
        "xae/app-shop:b7",  # the tag without this plane's prefix is someone else's build 7
        "xae/app-shop:latest",
        "xae/app-shop",
        "xae/app-shop:e2e1-b3",
        "xae/app-shopping:b3",
        "ghcr.io/xae/app-shop:b3",  # a build of shop's, but from somewhere else
    ],
)
def test_only_tags_the_app_really_built_are_its_own(ref: str) -> None:
    with pytest.raises(ImageNotAllowed):
        choose_image(ref, app="shop", built=SHOP_BUILDS)


@pytest.mark.parametrize(
    ("ref", "runs"),
    [
        ("xae/app-shop:b3", "xae/app-shop:b3"),
        ("docker.io/xae/app-shop:b3", "xae/app-shop:b3"),
        ("index.docker.io/xae/app-shop:e2e1-b7", "xae/app-shop:e2e1-b7"),
        ("127.0.0.1:5000/xae/app-shop:b9", "127.0.0.1:5000/xae/app-shop:b9"),
        ("xae/app-shop:b9", "127.0.0.1:5000/xae/app-shop:b9"),  # the local name of a pushed build
    ],
)
def test_an_app_redeploys_its_own_build_by_any_spelling_and_runs_what_was_recorded(
    ref: str, runs: str
) -> None:
    choice = choose_image(ref, app="shop", built=SHOP_BUILDS + PUSHED_BUILDS)
    assert (choice.image, choice.own_build) == (runs, True)


def test_an_own_repository_by_digest_is_refused_even_with_an_own_tag() -> None:
    for ref in (f"xae/app-shop@{DIGEST}", f"xae/app-shop:b3@{DIGEST}"):
        with pytest.raises(ImageNotAllowed, match="by digest"):
            choose_image(ref, app="shop", built=SHOP_BUILDS)


def test_the_refusal_is_the_same_whether_the_other_image_exists_or_not() -> None:
    messages = set()
    for ref in ("xae/app-bank:b1", "xae/app-nothing-here:b1"):
        with pytest.raises(ImageNotAllowed) as raised:
            choose_image(ref, app="shop", built=[])
        messages.add(raised.value.message.replace(ref, "REF"))
    assert len(messages) == 1


@pytest.mark.parametrize(
    "ref", ["3db4", "3db4639b4b4f", ID, f"sha256:{ID}", "sha256:3db4", "deadbeef", "a"]
)
def test_references_the_engine_could_read_as_an_image_id_are_refused(ref: str) -> None:
    with pytest.raises(ImageNotAllowed, match="ID of an image"):
        choose_image(ref, app="shop", built=[])


@pytest.mark.parametrize(
    "ref",
    [
        "nginx:1.27",
        "deadbeef:latest",
        "ghcr.io/acme/shop:v2",
        f"ghcr.io/acme/shop@{DIGEST}",
        "team/xae:1",
        "library/xae-tools:1",
        "a" * 65,
        "localhost:5000/shop:v1",
    ],
)
def test_references_outside_xaes_namespace_are_the_registrys_question(ref: str) -> None:
    choice = choose_image(ref, app="shop", built=[])
    assert (choice.image, choice.own_build) == (ref, False)


SECRET = "SECRET-BODY-123"


@pytest.mark.parametrize(
    ("detail", "says"),
    [
        (
            'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
            "cannot be reached",
        ),
        (
            "Get https://r.example/v2/: net/http: request canceled (Client.Timeout exceeded)",
            "cannot be reached",
        ),
        (
            "pull access denied for nope, repository does not exist or may require 'docker login': "
            "denied: requested access to the resource is denied",
            "refused access",
        ),
        ("unauthorized: authentication required", "refused access"),
        ("manifest for nginx:nope not found: manifest unknown: manifest unknown", "not found"),
        ("toomanyrequests: You have reached your pull rate limit.", "limits the rate"),
        (f"unknown: {SECRET}", "answered with an error (not shown)"),
        (f"error parsing HTTP 404 response body: invalid character 'S': \"{SECRET}\"", "not found"),
        ("", "answered with an error (not shown)"),
    ],
)
def test_a_failed_pull_is_named_by_kind_and_never_repeats_the_registry(
    detail: str, says: str
) -> None:
    message = describe_pull_failure("127.0.0.1:8080/x:v1", detail)
    assert message.startswith("the image 127.0.0.1:8080/x:v1 cannot be pulled: ")
    assert says in message
    assert SECRET not in message
    assert detail not in message or not detail
