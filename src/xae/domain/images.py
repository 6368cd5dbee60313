"""The validation gate for what a user hands `xae deploy --image`: a reference, a port, a command.

An image reference ends up in a Docker or Kubernetes API call and in the store, so it must be
one well-formed docker-style reference (`[registry[:port]/]name[:tag][@sha256:<hex>]`, the
grammar of distribution/reference) and nothing else: no spaces, no control characters, no
flags in disguise. The command becomes `/bin/sh -c "exec <command>"` like a Procfile line, so it
is held to a Procfile line's shape: one line of printable text. Pure: no I/O, no registry lookup
(whether the image exists is the runtime's question, answered when it pulls it).

A well-formed reference is not yet a permitted one: the engine that runs it also holds every
other app's builds and xae's own images, and it reads many spellings as one image
(`xae/app-x`, `docker.io/xae/app-x`, `index.docker.io/xae/app-x`; a bare hex string is an image
ID). `choose_image` reads a reference the way the engine does and lets an app name something in
xae's namespace (`xae/...`, on any registry) only when it is one of that app's own builds; it
never says whether someone else's image exists. Which registry a reference may reach is
`xae.domain.registries`' question; why a pull failed is `describe_pull_failure`'s, which never
repeats what the registry answered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from xae.domain.policy import DEFAULT_PORT
from xae.errors import ImageNotAllowed, InvalidInput

IMAGE_REF_MAX = 255
COMMAND_MAX = 4096
IMAGE_STACK = "image"
"""The `stack` of a build that is a user's ready-made image rather than something xae built."""

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = frozenset(
    {DOCKER_HUB, "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
"""Spellings of Docker Hub: the engine stores and looks up `index.docker.io/x` as `x`, and
the other two are the hosts Hub is served from."""
XAE_NAMESPACE = "xae"
"""Every image xae makes is `xae/<something>` (apps' builds `xae/app-<app>`, stacks, base
images), locally and under `<registry>/` when pushed for a cluster."""

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]{{1,5}})?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"sha256:[a-f0-9]{64}"
_REFERENCE = re.compile(rf"{_NAME}(?::{_TAG})?(?:@{_DIGEST})?", re.ASCII)
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_EXAMPLES = "e.g. `nginx:1.27`, `localhost:5000/shop:v2` or `ghcr.io/acme/shop@sha256:<64 hex>`"


def build_tag(plane: str, build_id: int) -> str:
    """The tag of build `build_id`'s image on `plane` (`xae/app-<app>:<tag>`): planes sharing
    one engine never name the same image."""
    return f"b{build_id}" if plane == "default" else f"{plane}-b{build_id}"


def validate_image_ref(ref: str) -> str:
    """Return `ref` if it is a valid docker-style image reference, else raise `InvalidInput`."""
    if not ref:
        raise InvalidInput(f"an image reference is required, {_EXAMPLES}")
    if len(ref) > IMAGE_REF_MAX:
        raise InvalidInput(
            f"the image reference {ascii(ref[:40])}… is {len(ref)} characters long; "
            f"use at most {IMAGE_REF_MAX}"
        )
    if _CONTROL_OR_SPACE.search(ref):
        raise InvalidInput(
            f"the image reference {ascii(ref[:80])} contains spaces or control characters: give "
            f"exactly one reference, {_EXAMPLES}"
        )
    if not _REFERENCE.fullmatch(ref):
        raise InvalidInput(
            f"the image reference {ascii(ref[:80])} is not valid: write it as "
            "[registry[:port]/]name[:tag][@sha256:digest] with a lowercase name, "
            f"{_EXAMPLES}"
        )
    return ref


def validate_port(port: int) -> int:
    """Return `port` if it can be the port the image's web process listens on (1..65535)."""
    if isinstance(port, bool) or not 1 <= port <= 65535:
        raise InvalidInput(
            f"port {port} is not valid: give the port the image's web process listens on, "
            f"between 1 and 65535 (default {DEFAULT_PORT}; xae also passes it as $PORT)"
        )
    return port


def validate_command(command: str) -> str:
    """Return `command` stripped; empty means the image's own CMD. One printable line only."""
    command = command.strip()
    if len(command) > COMMAND_MAX:
        raise InvalidInput(
            f"the command is {len(command)} characters long; use at most {COMMAND_MAX} "
            "(or bake it into the image as its CMD)"
        )
    if _CONTROL.search(command):
        raise InvalidInput(
            "the command contains a line break or control characters: give one line, "
            "like a Procfile command (`python app.py`), or leave it empty to run the image's CMD"
        )
    return command


_IMAGE_ID = re.compile(r"[a-f0-9]{1,64}")


@dataclass(frozen=True)
class ImageRef:
    """A reference split and normalised as the engine reads it: `registry` in lowercase with
    Docker Hub's spellings folded into `docker.io`, `path` with Hub's implicit `library/`."""

    registry: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        return f"{self.registry}/{self.path}"

    @property
    def on_docker_hub(self) -> bool:
        return self.registry == DOCKER_HUB

    @property
    def in_xae_namespace(self) -> bool:
        return self.path.split("/", 1)[0] == XAE_NAMESPACE


def parse_image_ref(ref: str) -> ImageRef:
    """Split a reference (checked with `validate_image_ref` first) into its normalised parts."""
    validate_image_ref(ref)
    name, _, digest = ref.partition("@")
    tag: str | None = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first.lower() == "localhost"):
        registry, path = first.lower(), rest
    else:
        registry, path = DOCKER_HUB, name
        if path != path.lower():
            raise InvalidInput(
                f"the image reference {ref[:80]!r} is not valid: a repository name is "
                f"lowercase, {_EXAMPLES}"
            )
    if registry in DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return ImageRef(registry=registry, path=path, tag=tag, digest=digest or None)


@dataclass(frozen=True)
class ImageChoice:
    """What an image deploy will run: `image` is the reference to record and start (for an
    app's own build, the reference that build recorded, whatever spelling the user gave)."""

    image: str
    ref: ImageRef
    own_build: bool


def choose_image(ref: str, *, app: str, built: Iterable[str]) -> ImageChoice:
    """Decide whether app `app` may run the image `ref`; `built` are the images of the builds
    xae made for `app` (succeeded ones, as recorded). Raises `ImageNotAllowed`."""
    parsed = parse_image_ref(ref)
    if _IMAGE_ID.fullmatch(ref) or parsed.repository == f"{DOCKER_HUB}/library/sha256":
        raise ImageNotAllowed(
            f"{ref[:80]!r} could be read as the ID of an image on the engine, and deploys name "
            "images by repository: give a repository and a tag, e.g. `nginx:1.27` "
            "(or `name:latest` for an image really called so)"
        )
    if not parsed.in_xae_namespace:
        return ImageChoice(image=ref, ref=parsed, own_build=False)
    own = f"`xae releases --app {app}` lists the images of its builds"
    if parsed.digest is not None:
        raise ImageNotAllowed(
            f"{ref[:80]!r} names an image in xae's own namespace by digest: an app deploys its "
            f"own builds by tag, as xae recorded them ({own}); "
            "`xae releases:rollback` returns to an earlier one"
        )
    for image in built:
        mine = parse_image_ref(image)
        if (mine.path, mine.tag) == (parsed.path, parsed.tag) and parsed.registry in (
            mine.registry,
            DOCKER_HUB,
        ):
            return ImageChoice(image=image, ref=mine, own_build=True)
    raise ImageNotAllowed(
        f"{ref[:80]!r} is in xae's own image namespace (`{XAE_NAMESPACE}/`) and is not a build "
        f"of app {app}: an app may deploy only images it built ({own}) or images from a "
        "registry (`nginx:1.27`, `ghcr.io/acme/shop:v2`)"
    )


_PULL_FAILURES: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        (
            "connection refused",
            "no such host",
            "i/o timeout",
            "timeout",
            "timed out",
            "network is unreachable",
            "no route to host",
            "connection reset",
            "eof",
            "tls",
            "x509",
            "certificate",
            "http response to https client",
            "dial tcp",
            "server misbehaving",
            "lookup ",
        ),
        "its registry cannot be reached: check the registry's name and that it runs",
    ),
    (
        ("toomanyrequests", "too many requests", "rate limit"),
        "its registry limits the rate of pulls: try again later",
    ),
    (
        (
            "unauthorized",
            "authentication required",
            "denied",
            "forbidden",
            "no basic auth credentials",
            "requested access to the resource",
            "http 401",
            "http 403",
        ),
        "its registry refused access: the repository does not exist or needs credentials",
    ),
    (
        (
            "not found",
            "manifest unknown",
            "name unknown",
            "no such image",
            "does not exist",
            "http 404",
        ),
        "it was not found: check the repository and the tag",
    ),
)


def describe_pull_failure(image: str, detail: str) -> str:
    """Why pulling `image` failed, in one of a few kinds read from the engine's `detail`.

    `detail` often carries the registry's response body, which anyone who runs a registry
    controls (and which, for an address inside the platform, may be a private page), so it is
    only read here, never repeated.
    """
    text = detail.lower()
    for needles, what in _PULL_FAILURES:
        if any(needle in text for needle in needles):
            return f"the image {image} cannot be pulled: {what}"
    return (
        f"the image {image} cannot be pulled: its registry answered with an error (not shown): "
        "check the reference, or push the image to a registry you can read"
    )
