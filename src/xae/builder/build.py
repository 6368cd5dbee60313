"""Source tree → tagged app image: the one place in xae that runs an app build.

It decides the build mode (`detect`), settles the process types before spending time on a build
(a bad Procfile fails in milliseconds, not after a pip install), renders the stack's Dockerfile
into the context, runs the classic Docker builder and streams every log line to the caller as it
arrives. A failed build raises BuildFailed carrying the tail of the log, and tags nothing: xae
tags the image itself, only once every step succeeded within the build's deadline.

Every build runs confined (`jail`): memory, CPU and PIDs limits, a network that reaches the
internet but not this host or other containers, and a deadline after which it is stopped.

What it must never do: run anything from the upload on this machine (all of it runs inside the
build container), or put user text into a shell string here.
"""

from __future__ import annotations

import json
import logging
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from xae.builder.buildapi import BuildRequest, context_tar
from xae.builder.detect import BuildMode, detect
from xae.builder.images import stack_image
from xae.builder.jail import BuildJail, Deadline
from xae.builder.stacks import Stack, node, python, static
from xae.config import Settings
from xae.domain.names import validate_app_name
from xae.domain.procfile import parse_procfile
from xae.errors import BuildFailed, InvalidName, InvalidProcfile

Log = Callable[[str], None]
_log = logging.getLogger("xae.builder")

GENERATED_DOCKERFILE = ".xae.Dockerfile"
"""Where a stack build's Dockerfile is written in the context; kept out of the image."""

ALWAYS_IGNORED = (".git", GENERATED_DOCKERFILE)
"""`.dockerignore` patterns every stack build gets on top of the app's own."""

LOG_TAIL = 20
"""How many of the last build log lines a BuildFailed message carries."""

STACKS: dict[str, Stack] = {"python": python, "node": node, "static": static}
"""The stack modules by build mode."""

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class BuiltImage:
    """The result of a successful build."""

    image_id: str
    """The image's content id (`sha256:...`)."""
    ref: str
    """The tag it was given, `xae/app-<app>:<tag>`."""
    stack: str
    """The build mode: `dockerfile`, `python`, `node` or `static`."""
    processes: dict[str, str]
    """Process type → command. `""` means the image's own CMD (Dockerfile apps, no Procfile)."""
    port: int | None
    """The one port the image EXPOSEs, if exactly one; otherwise None (xae uses 5000)."""


def image_ref(app: str, tag: str) -> str:
    """The image reference a build of `app` is tagged with."""
    validate_app_name(app)
    if not _TAG.match(tag):
        raise InvalidName(
            f"build tag {tag[:40]!r} is not valid: use letters, digits, '_', '.' and '-', "
            "at most 128 characters, not starting with '.' or '-'"
        )
    return f"xae/app-{app}:{tag}"


def read_procfile(src: Path) -> dict[str, str] | None:
    """The app's process types from its Procfile, or None when it has none."""
    path = src / "Procfile"
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InvalidProcfile(f"Procfile is not UTF-8 text: {e}") from e
    processes = parse_procfile(text)
    if not processes:
        raise InvalidProcfile(
            "Procfile defines no process types; add a line like `web: python app.py` "
            "or delete the Procfile"
        )
    return processes


def plan_processes(src: Path, mode: BuildMode) -> dict[str, str]:
    """Process types for the app: its Procfile if it has one, else the stack's default web."""
    procfile = read_procfile(src)
    if procfile is not None:
        return procfile
    if mode == "dockerfile":
        return {"web": ""}
    return {"web": STACKS[mode].default_command(src)}


def exposed_port(image_attrs: dict[str, Any]) -> int | None:
    """The single TCP port an image EXPOSEs, or None if it exposes none or several."""
    ports = list((image_attrs.get("Config") or {}).get("ExposedPorts") or {})
    if len(ports) != 1:
        return None
    number, _, proto = ports[0].partition("/")
    if proto not in ("", "tcp") or not number.isdigit():
        return None
    return int(number)


def _prepare_stack_context(src: Path, mode: str, base_image: str) -> None:
    """Write the stack's Dockerfile and extend `.dockerignore` in the build context."""
    stack = STACKS[mode]
    ignore_path = src / ".dockerignore"
    try:
        existing = ignore_path.read_text(encoding="utf-8") if ignore_path.is_file() else ""
        present = {line.strip() for line in existing.splitlines()}
        wanted = [p for p in (*ALWAYS_IGNORED, *stack.IGNORE) if p not in present]
        if wanted:
            sep = "" if not existing or existing.endswith("\n") else "\n"
            ignore_path.write_text(
                existing + sep + "# added by xae\n" + "\n".join(wanted) + "\n", encoding="utf-8"
            )
        (src / GENERATED_DOCKERFILE).write_text(stack.dockerfile(src, base_image), "utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BuildFailed(f"could not prepare the build context: {e}") from e


def _require_image(client: docker.DockerClient, ref: str) -> None:
    try:
        client.api.inspect_image(ref)
    except docker.errors.ImageNotFound as e:
        raise BuildFailed(
            f"the stack image {ref} is missing on this machine; build it with "
            "`python -m xae.builder.images ensure` (or `make up`)"
        ) from e


class _LogLines:
    """Turns the builder's chunks (partial lines, several lines) into whole lines."""

    def __init__(self, log: Log) -> None:
        self._log = log
        self._partial = ""
        self.tail: deque[str] = deque(maxlen=LOG_TAIL)

    def feed(self, text: str) -> None:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._emit(line)

    def flush(self) -> None:
        if self._partial:
            self._emit(self._partial)
            self._partial = ""

    def _emit(self, line: str) -> None:
        line = line.rstrip("\r")
        self.tail.append(line)
        self._log(line)

    def failure(self, what: str) -> BuildFailed:
        self.flush()
        tail = "\n".join(self.tail)
        return BuildFailed(f"{what}; the last lines of the build log:\n{tail}",
                           details={"log_tail": list(self.tail)})


def _run_build(client: docker.DockerClient, src: Path, dockerfile: str, ref: str,
               labels: dict[str, str], log: Log, *, settings: Settings,
               jail: BuildJail | None = None) -> str:
    """Run the build confined by `jail` (limits, network, deadline), streaming its log; tag
    the image `ref` only if every step succeeded in time; the built image's id."""
    lines = _LogLines(log)
    app = labels["xae.app"]
    jail = jail if jail is not None else BuildJail(client, settings)
    timeout = jail.limits.timeout
    image_id: str | None = None
    stopped: list[str] = []
    try:
        with jail.confine() as confined, context_tar(src, dockerfile) as context:
            request = BuildRequest.send(
                client.api, context,
                {"dockerfile": dockerfile, "rm": True, "forcerm": True,
                 "labels": json.dumps(labels), **confined.params},
                timeout=timeout + 60,  # the deadline below ends it; this only bounds a read
            )

            def stop() -> None:
                request.abort()
                stopped.extend(confined.kill_steps())

            failed = False
            with Deadline(timeout, stop) as deadline:
                try:
                    for chunk in request.messages():
                        if failed:
                            continue  # read the stream to its end so the connection is released
                        if "error" in chunk:
                            lines.flush()
                            lines.feed(str(chunk["error"]).strip() + "\n")
                            failed = True
                        elif "stream" in chunk:
                            lines.feed(str(chunk["stream"]))
                        elif "status" in chunk:
                            lines.feed(
                                f"{chunk['status']} {chunk.get('progress', '')}".rstrip() + "\n"
                            )
                        elif isinstance(chunk.get("aux"), dict) and "ID" in chunk["aux"]:
                            image_id = str(chunk["aux"]["ID"])
                except OSError:
                    if not deadline.expired:
                        raise
                finally:
                    request.close()
                in_time = deadline.finish()
            if not in_time:
                confined.wait_steps_gone(stopped)
                _log.warning("the build of %s timed out after %g s and was stopped", app, timeout)
                raise lines.failure(
                    f"the build of {app} timed out after {timeout:g} s and was stopped; make it "
                    "faster (the platform's limit is XAE_BUILD_TIMEOUT)"
                )
        if failed:
            raise lines.failure(f"the build of {app} failed")
        if image_id is None:
            raise lines.failure(f"the Docker engine reported no image for the build of {app}")
        repository, _, tag = ref.rpartition(":")
        client.api.tag(image_id, repository, tag)
        lines.flush()
        lines.feed(f"Successfully tagged {ref}\n")
    except docker.errors.APIError as e:
        lines.flush()
        lines.feed(f"{e.explanation or e}\n")
        raise lines.failure(f"the Docker engine refused the build of {app}") from e
    except (docker.errors.DockerException, OSError) as e:
        # OSError includes requests' connection errors and read timeouts.
        lines.flush()
        lines.feed(f"{e}\n")
        raise lines.failure(f"lost the Docker engine during the build of {app}") from e
    return image_id


def build_image(client: docker.DockerClient, src: Path, *, app: str, tag: str,
                settings: Settings, log: Log, jail: BuildJail | None = None) -> BuiltImage:
    """Build the source tree at `src` into the image `xae/app-<app>:<tag>`.

    Writes `.xae.Dockerfile` (and extends `.dockerignore`) in `src` for stack builds, so `src`
    must be a directory xae owns, such as an extracted upload. Every build log line goes to
    `log` as it arrives. The build runs confined by `jail` (default: a BuildJail from
    `settings`). Raises BuildFailed (with the log's tail; also when the build overruns
    `settings.build_timeout`), InvalidProcfile, InvalidName.
    """
    ref = image_ref(app, tag)
    mode = detect(src)
    processes = plan_processes(src, mode)
    log(f"-----> {mode} app detected")
    if mode == "dockerfile":
        dockerfile = "Dockerfile"
    else:
        base_image = stack_image(mode, settings)
        _require_image(client, base_image)
        _prepare_stack_context(src, mode, base_image)
        dockerfile = GENERATED_DOCKERFILE
    labels = {"xae.app": app, "xae.plane": settings.plane}
    image_id = _run_build(client, src, dockerfile, ref, labels, log, settings=settings, jail=jail)
    port = exposed_port(client.api.inspect_image(image_id))
    log(f"-----> built {ref} ({image_id[7:19] if image_id.startswith('sha256:') else image_id})")
    return BuiltImage(image_id=image_id, ref=ref, stack=mode, processes=processes, port=port)
