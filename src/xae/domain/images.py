"""The validation gate for what a user hands `xae deploy --image`: a reference, a port, a command.

An image reference ends up in a Docker or Kubernetes API call and in the store, so it must be
one well-formed docker-style reference (`[registry[:port]/]name[:tag][@sha256:<hex>]`, the
grammar of distribution/reference) and nothing else: no spaces, no control characters, no
flags in disguise. The command becomes `/bin/sh -c "exec <command>"` like a Procfile line, so it
is held to a Procfile line's shape: one line of printable text. Pure: no I/O, no registry lookup
(whether the image exists is the runtime's question, answered when it pulls it).
"""

from __future__ import annotations

import re

from xae.errors import InvalidInput

IMAGE_REF_MAX = 255
DEFAULT_IMAGE_PORT = 5000
"""The port an image's web process is assumed to listen on when none is given (as for builds)."""
COMMAND_MAX = 4096

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


def validate_image_ref(ref: str) -> str:
    """Return `ref` if it is a valid docker-style image reference, else raise `InvalidInput`."""
    if not ref:
        raise InvalidInput(f"an image reference is required, {_EXAMPLES}")
    if len(ref) > IMAGE_REF_MAX:
        raise InvalidInput(
            f"the image reference {ref[:40]!r}… is {len(ref)} characters long; "
            f"use at most {IMAGE_REF_MAX}"
        )
    if _CONTROL_OR_SPACE.search(ref):
        raise InvalidInput(
            f"the image reference {ref[:80]!r} contains spaces or control characters: give "
            f"exactly one reference, {_EXAMPLES}"
        )
    if not _REFERENCE.fullmatch(ref):
        raise InvalidInput(
            f"the image reference {ref[:80]!r} is not valid: write it as "
            "[registry[:port]/]name[:tag][@sha256:digest] with a lowercase name, "
            f"{_EXAMPLES}"
        )
    return ref


def validate_port(port: int) -> int:
    """Return `port` if it can be the port the image's web process listens on (1..65535)."""
    if isinstance(port, bool) or not 1 <= port <= 65535:
        raise InvalidInput(
            f"port {port} is not valid: give the port the image's web process listens on, "
            f"between 1 and 65535 (default {DEFAULT_IMAGE_PORT}; xae also passes it as $PORT)"
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
