"""Building lightkube's decoders once, in one thread, before any other thread decodes.

lightkube (1.0) decodes API answers with msgspec, whose decoder for a type is built on the first
decode of that type, resolving the type's annotations as it goes. Built from several threads at
once (the watch cache's three watchers list their kinds together at start-up, and deploys apply
objects in parallel), that first build crashed the control plane with a segmentation fault: in
the e2e suite, a plane restarted on a cluster with a few dozen objects died right after start.
Decoding an empty list and an empty watch event of every kind xae reads, before any thread
starts, builds every decoder while only one thread runs; later decodes only read them.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import msgspec
from lightkube.core import decoders
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Node, Pod, Secret, Service
from lightkube.resources.discovery_v1 import EndpointSlice
from lightkube.resources.networking_v1 import NetworkPolicy

KINDS: tuple[type[Any], ...] = (
    Deployment,
    Pod,
    EndpointSlice,
    Namespace,
    Node,
    Secret,
    Service,
    NetworkPolicy,
)
"""Every kind xae lists, watches, applies or reads."""

_lock = threading.Lock()
_done = False


def warm_up() -> None:
    """Build the decoders of every kind xae reads (once per process; cheap after)."""
    global _done
    with _lock:
        if _done:
            return
        decoders.decode_watch_event(b'{"type":"ADDED","object":{}}')
        decoders.decode_status(b"{}")
        for kind in KINDS:
            decoders.decode_list(b'{"items":[]}', kind)
            # The decoder is built before the (incomplete) object is refused.
            with contextlib.suppress(msgspec.ValidationError):
                decoders.decode_object(b'{"metadata":{}}', kind)
        _done = True
