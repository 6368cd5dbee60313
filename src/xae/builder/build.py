"""Source tree → tagged app image: the one place in xae that runs an app build.

It decides the build mode (`detect`), settles the process types before spending time on a build
(a bad Procfile fails in milliseconds, not after a pip install), assembles the build context,
runs the classic Docker builder and streams every log line to the caller as it arrives. A failed
build raises BuildFailed carrying the tail of the log, and tags nothing: xae tags the image
itself, only once every step succeeded within the build's deadline.

The build context is a tar xae writes itself, into an unnamed temporary file beside `src`: the
app's files (links stored as links, never followed) minus the ignore patterns, plus, for a stack
build, the generated Dockerfile and the `.dockerignore` that drops it from the image. Neither is
ever written into `src`, which the tenant shaped: a file name there could be a link to anywhere.

Every build runs confined (`jail`): memory, CPU and PIDs limits, a network that reaches the
internet but not this host or other containers, and a deadline after which it is stopped.

What it must never do: run anything from the upload on this machine (all of it runs inside the
build container), write into the source tree, read a file of it except through
`xae.builder.sourcefiles`, or put user text into a shell string here.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors
from docker.utils.build import tar as docker_context_tar

from xae.builder import sourcefiles
from xae.builder.buildapi import BuildRequest
from xae.builder.detect import BuildMode, detect
from xae.builder.images import stack_image
from xae.builder.jail import BuildJail, Deadline
from xae.builder.stacks import COPY_APP, Stack, node, python, static
from xae.config import Settings
from xae.domain.names import validate_app_name
from xae.domain.policy import LABEL_APP, LABEL_PLANE, LOG_TAIL
from xae.domain.procfile import parse_procfile
from xae.domain.runas import APP_RUN_AS, ImageUserUnknown
from xae.errors import BuildFailed, InvalidName, InvalidProcfile
from xae.image_users import image_run_as

Log = Callable[[str], None]
_log = logging.getLogger("xae.builder")

GENERATED_DOCKERFILE = ".xae.Dockerfile"
"""The name of a stack build's Dockerfile in the build context; kept out of the image."""

ALWAYS_IGNORED = (".git", GENERATED_DOCKERFILE, ".dockerignore")
"""`.dockerignore` patterns every stack build gets on top of the app's own."""

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
    run_as: str = APP_RUN_AS
    """Who its processes run as (`xae.domain.runas`): the app user, the image's USER, `root`."""


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
    text = sourcefiles.read_text(src, "Procfile", error=InvalidProcfile)
    if text is None:
        return None
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


def ignore_patterns(src: Path) -> list[str]:
    """The app's own `.dockerignore` patterns, read the way the Docker CLI reads them."""
    text = sourcefiles.read_text(src, ".dockerignore")
    if text is None:
        return []
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def with_labels(text: str, labels: dict[str, str]) -> str:
    """A stack Dockerfile carrying `labels` in one `LABEL` step just before the app's code is
    copied in. Given to the engine instead (`labels=`), they become one step per label after
    the last step, which no cache can reuse: ~0.06 s each on every warm redeploy. Here the
    step is cached per app and the dependency layers above it stay shared between apps.
    Values are validated names (app, plane), quoted as JSON strings all the same."""
    line = "LABEL " + " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in labels.items())
    lines = text.split("\n")
    lines.insert(lines.index(COPY_APP) if COPY_APP in lines else len(lines), line)
    return "\n".join(lines)


def write_context(
    src: Path, into: IO[bytes], dockerfile: str, text: str | None, exclude: list[str]
) -> None:
    """Write the build context for `src` as a tar into `into`.

    The files of `src` not matched by `exclude` go in as they are (a link stays a link);
    `text`, when given, goes in as the Dockerfile `dockerfile`, together with a `.dockerignore`
    of `exclude` plus that name, so the daemon keeps both out of the image.
    """
    try:
        docker_context_tar(
            str(src), exclude=list(exclude), dockerfile=(dockerfile, text), fileobj=into
        )
    except re.error:
        # `from None`: the regex error quotes the pattern, which is the file's content.
        raise BuildFailed(
            ".dockerignore has a pattern that is not valid (e.g. a range like [z-a]); fix or "
            "remove it"
        ) from None
    except OSError as e:
        raise BuildFailed(f"could not assemble the build context: {e.strerror or e}") from e


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
        return BuildFailed(
            f"{what}; the last lines of the build log:\n{tail}",
            details={"log_tail": list(self.tail)},
        )


def _run_build(
    client: docker.DockerClient,
    context: IO[bytes],
    dockerfile: str,
    ref: str,
    labels: dict[str, str],
    log: Log,
    *,
    settings: Settings,
    jail: BuildJail | None = None,
    labels_in_dockerfile: bool = False,
) -> str:
    """Run the build confined by `jail` (limits, network, deadline), streaming its log; tag
    the image `ref` only if every step succeeded in time; the built image's id. The engine
    adds `labels` unless the Dockerfile carries them already (`with_labels`)."""
    lines = _LogLines(log)
    app = labels[LABEL_APP]
    jail = jail if jail is not None else BuildJail(client, settings)
    timeout = jail.limits.timeout
    image_id: str | None = None
    stopped: list[str] = []
    try:
        with jail.confine() as confined:
            request = BuildRequest.send(
                client.api,
                context,
                {
                    "dockerfile": dockerfile,
                    "rm": True,
                    "forcerm": True,
                    **({} if labels_in_dockerfile else {"labels": json.dumps(labels)}),
                    **confined.params,
                },
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


def build_image(
    client: docker.DockerClient,
    src: Path,
    *,
    app: str,
    tag: str,
    settings: Settings,
    log: Log,
    jail: BuildJail | None = None,
) -> BuiltImage:
    """Build the source tree at `src` into the image `xae/app-<app>:<tag>`.

    Writes nothing into `src`; the build context is assembled in a temporary file in `src`'s
    parent, which must be a directory xae owns (the build's work dir). Every build log line
    goes to `log` as it arrives. The build runs confined by `jail` (default: a BuildJail from
    `settings`). Raises BuildFailed (with the log's tail; also when the build overruns
    `settings.build_timeout`), InvalidProcfile, InvalidName.
    """
    ref = image_ref(app, tag)
    mode = detect(src)
    processes = plan_processes(src, mode)
    log(f"-----> {mode} app detected")
    exclude = ignore_patterns(src)
    labels = {LABEL_APP: app, LABEL_PLANE: settings.plane}
    text: str | None = None
    if mode == "dockerfile":
        dockerfile = "Dockerfile"
    else:
        base_image = stack_image(mode, settings)
        _require_image(client, base_image)
        stack = STACKS[mode]
        text = with_labels(stack.dockerfile(src, base_image), labels)
        exclude += [p for p in (*ALWAYS_IGNORED, *stack.IGNORE) if p not in exclude]
        dockerfile = GENERATED_DOCKERFILE
    # Unnamed, in the build's own work dir (a sibling of `src`): nothing the tenant shaped.
    with tempfile.TemporaryFile(dir=src.parent) as context:
        write_context(src, context, dockerfile, text, exclude)
        image_id = _run_build(
            client,
            context,
            dockerfile,
            ref,
            labels,
            log,
            settings=settings,
            jail=jail,
            labels_in_dockerfile=text is not None,
        )
    inspect = client.api.inspect_image(image_id)
    port = exposed_port(inspect)
    # xae's stacks run as the app user; a Dockerfile image as its own USER.
    run_as = APP_RUN_AS
    if mode == "dockerfile":
        try:
            run_as = image_run_as(client, image_id, inspect)
        except ImageUserUnknown as e:
            raise BuildFailed(f"{e}: give USER as a number (USER 1000) or create the user") from e
        except docker.errors.APIError as e:
            raise BuildFailed(
                f"reading the users of the built image failed: {e.explanation}"
            ) from e
    log(f"-----> built {ref} ({image_id[7:19] if image_id.startswith('sha256:') else image_id})")
    return BuiltImage(
        image_id=image_id, ref=ref, stack=mode, processes=processes, port=port, run_as=run_as
    )
