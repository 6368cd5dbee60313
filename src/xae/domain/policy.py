"""Platform policy that both backends and the builder must agree on, each value in one place.

A value here is read by more than one layer (the builder and the docker runtime, or the docker
and the kubernetes backends), and they go wrong quietly when they drift apart: an image built
for one uid and run as another cannot write its own files; an image labelled with one key is
never found by the clean-up filtering on another. Pure constants; no I/O.
"""

from __future__ import annotations

APP_UID = 10001
"""The unprivileged user (and group) every app runs as, on both backends; the xae base image
creates it and the stack Dockerfiles hand `/app` to it."""

DEFAULT_PORT = 5000
"""The port a web process listens on (as `$PORT`) when its build or image deploy names none."""

LOG_TAIL = 30
"""How many of its last output lines a failed build or a failed instance's error carries."""

LABEL_MANAGED = "xae.managed"
"""Docker label (value `1`) on every container and network xae created: it touches no other."""
LABEL_PLANE = "xae.plane"
"""Docker label: which control plane made the object (several planes may share one engine)."""
LABEL_ONEOFF = "xae.oneoff"
"""Docker label on one-off containers (release phase, cron runs, `xae run`): their kind. They
are not instances: once stopped, only their output is wanted, and GC removes them."""
LABEL_APP = "xae.app"
"""Docker label: the app a container, network or built image belongs to. The builder labels
images with it and `LABEL_PLANE`; the runtime removes an app's images by the same two."""


def is_oneoff(labels: dict[str, str]) -> bool:
    """Whether a container with `labels` is a one-off. Only a kind xae set counts: a container
    inherits its image's labels, and a tenant's Dockerfile may say `LABEL xae.oneoff=run`, so
    an instance carries the label empty (a container's own labels win over its image's)."""
    return bool(labels.get(LABEL_ONEOFF))


PROCESS_TYPE_PATTERN = r"^[a-z][a-z0-9_-]{0,29}$"
"""A process type (`web`, `worker`): a Procfile key, part of container and Deployment names."""
