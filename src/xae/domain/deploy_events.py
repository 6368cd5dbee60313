"""The events a deploy streams to its client, typed, with their wire format in one place.

The Code Center emits `Step` and `LogLine` while it builds and rolls out; the API ends the
stream with `Done` or `Failed`. The API sends each as one line of NDJSON, and the CLI (and
scripts) read those lines, so `to_json()` must stay exactly what it has always been:

    {"event": "step", "message": ...}
    {"event": "log", "line": ...}
    {"event": "done", "url": ..., "release": {...}, "processes": {...}}   (no `release` when
                                                                        the app has none)
    {"event": "error", "error": {"code": ..., "message": ..., "details": {...}}}

Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xae.errors import XaeError


@dataclass(frozen=True)
class Step:
    """A step of the deploy starts (`building image`, `releasing v3`, a rollout's progress)."""

    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"event": "step", "message": self.message}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


@dataclass(frozen=True)
class LogLine:
    """One line of the build's output, escapes already stripped."""

    line: str

    def to_dict(self) -> dict[str, Any]:
        return {"event": "log", "line": self.line}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


@dataclass(frozen=True)
class Done:
    """The deploy succeeded: where the app answers, its current release as the API shows
    releases (None if it has none), and how many instances of each process type run now, so
    a client says "serving at URL" only when a web process does."""

    url: str
    release: dict[str, Any] | None
    processes: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        done: dict[str, Any] = {"event": "done", "url": self.url}
        if self.release is not None:
            done["release"] = self.release
        done["processes"] = self.processes
        return done

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


@dataclass(frozen=True)
class Failed:
    """The deploy failed: the error in the API's error shape (a stable `code`, a message that
    says what to do, details)."""

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, error: XaeError) -> Failed:
        return cls(code=error.code, message=error.message, details=error.details)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": "error",
            "error": {"code": self.code, "message": self.message, "details": self.details},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


DeployEvent = Step | LogLine | Done | Failed
Emit = Callable[[DeployEvent], None]
"""Where the deploy pipeline sends its events."""
