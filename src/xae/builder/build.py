"""Source tree → tagged app image: the one place in xae that runs an app build.

It decides the build mode (`detect`), settles the process types before spending time on a build
(a bad Procfile fails in milliseconds, not after a pip install), assembles the build context,
runs the classic Docker builder and streams every log line to the caller as it arrives. A failed
build raises BuildFailed carrying the tail of the log, and tags nothing: xae tags the image
itself, only once every step succeeded within the build's deadline.

The build context is a tar xae writes itself, into an unnamed temporary file beside `src`: the
app's files (links stored as links, never followed) minus the ignore patterns, plus the
Dockerfile the engine builds (a stack's, generated; or the app's own, wherever `--dockerfile`
says, prepared for the classic builder by `dockerfiles`) and the `.dockerignore` that drops it
from the image. Neither is ever written into `src`, which the tenant shaped: a file name there
could be a link to anywhere.

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

from xae.builder import node_images, sourcefiles
from xae.builder.buildapi import BuildRequest
from xae.builder.cancel import Cancellation
from xae.builder.detect import BuildMode, detect
from xae.builder.dockerfiles import prepare as prepare_dockerfile
from xae.builder.images import stack_build_image, stack_image, versions
from xae.builder.jail import BuildJail, Deadline
from xae.builder.manifestfile import (
    finish_plan,
    manifest_processes,
    read_manifest,
    with_build_command,
)
from xae.builder.stacks import (
    COPY_APP,
    LABELS_AT,
    Stack,
    StackImages,
    VersionedStack,
    node,
    python,
    static,
)
from xae.config import Settings
from xae.domain.buildfiles import DEFAULT as DEFAULT_DOCKERFILE
from xae.domain.names import validate_app_name
from xae.domain.policy import LABEL_APP, LABEL_PLANE, LOG_TAIL
from xae.domain.procfile import parse_procfile
from xae.domain.runas import APP_RUN_AS, ImageUserUnknown
from xae.errors import BuildCancelled, BuildFailed, BuildTimedOut, InvalidName, InvalidProcfile
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

VERSIONED_STACKS: dict[str, VersionedStack] = {"python": python}
"""The stacks offering several language versions (`xae.builder.images.VERSIONS`)."""

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
    manifest: dict[str, Any] | None = None
    """The app's validated manifest (`xae.domain.manifest.Manifest`) as JSON, if it has one."""


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
    """Process types for the app: its Procfile if it has one, else the stack's default web.
    A Dockerfile app whose Procfile has no `web` line keeps the image's CMD as `web`."""
    procfile = read_procfile(src)
    if procfile is not None:
        if mode == "dockerfile" and "web" not in procfile:
            return {"web": "", **procfile}
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
    if LABELS_AT in lines:
        lines[lines.index(LABELS_AT)] = line
        return "\n".join(lines)
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


def app_dockerfile(src: Path, path: str, settings: Settings, log: Log) -> str:
    """The app's Dockerfile at `path`, prepared for the confined builder (`dockerfiles`)."""
    text = sourcefiles.read_text(src, path)
    if text is None:
        raise BuildFailed(
            f"the app's Dockerfile {path} is not a file in the source; add it, or point "
            "`xae apps:update --dockerfile PATH` at the right one ('' for ./Dockerfile)"
        )
    if path != DEFAULT_DOCKERFILE:
        log(f"-----> building with {path}")
    prepared = prepare_dockerfile(text, mirror=settings.build_registry_mirror)
    for note in prepared.notes:
        log(f"       {note}")
    return prepared.text


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

    def failure(self, what: str, kind: type[BuildFailed] = BuildFailed) -> BuildFailed:
        self.flush()
        tail = "\n".join(self.tail)
        return kind(
            f"{what}; the last lines of the build log:\n{tail}",
            details={"log_tail": list(self.tail)},
        )


ENGINE_RACE_ATTEMPTS = 3
_ENGINE_RACE = re.compile(r'unable to find image "sha256:[0-9a-f]{64}"')
"""The classic builder's cache probe reads every child image of a step's parent; one removed
meanwhile (any app's image from the same stack, collected or destroyed) fails the probe, and
the build with it, though nothing is wrong with it. Matched against the engine's whole error
message: a failed RUN step's error quotes its command, which the tenant wrote."""


class _EngineRace(BuildFailed):
    """A build failed by `_ENGINE_RACE`: running it again succeeds."""


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
    cancel: Cancellation | None = None,
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
    raced = False
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
            switch = cancel if cancel is not None else Cancellation()
            with Deadline(timeout, stop) as deadline:
                switch.attach(stop)
                try:
                    for chunk in request.messages():
                        if failed:
                            continue  # read the stream to its end so the connection is released
                        if "error" in chunk:
                            lines.flush()
                            lines.feed(str(chunk["error"]).strip() + "\n")
                            failed = True
                            raced = bool(_ENGINE_RACE.fullmatch(str(chunk["error"]).strip()))
                        elif "stream" in chunk:
                            lines.feed(str(chunk["stream"]))
                        elif "status" in chunk:
                            lines.feed(
                                f"{chunk['status']} {chunk.get('progress', '')}".rstrip() + "\n"
                            )
                        elif isinstance(chunk.get("aux"), dict) and "ID" in chunk["aux"]:
                            image_id = str(chunk["aux"]["ID"])
                except OSError:
                    if not (deadline.expired or switch.cancelled):
                        raise
                finally:
                    switch.detach()
                    request.close()
                in_time = deadline.finish()
            if switch.cancelled and in_time:
                confined.stop_steps(stopped)  # a cancel racing a step's start or exit
                lines.flush()
                lines.feed(f"the build of {app} was cancelled and stopped\n")
                raise BuildCancelled(
                    f"the build of {app} was cancelled (`xae builds:cancel`) and stopped; the "
                    "current release keeps serving"
                )
            if not in_time:
                confined.stop_steps(stopped)
                _log.warning("the build of %s timed out after %g s and was stopped", app, timeout)
                raise lines.failure(
                    f"the build of {app} timed out after {timeout:g} s and was stopped; make it "
                    "faster (the platform's limit is XAE_BUILD_TIMEOUT)",
                    BuildTimedOut,
                )
        if failed:
            raise lines.failure(f"the build of {app} failed", _EngineRace if raced else BuildFailed)
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


def _versioned_dockerfile(
    client: docker.DockerClient, src: Path, mode: str, settings: Settings, log: Log
) -> str:
    """The Dockerfile of a stack offering several versions: the version the app asks for,
    on that version's run image and (if it has one) build image."""
    stack = VERSIONED_STACKS[mode]
    offered = [v.version for v in versions(mode)]
    version, note = stack.pick_version(src, offered)
    log(f"-----> {mode} {version} ({note})")
    run = stack_image(mode, settings, version)
    _require_image(client, run)
    build: str | None = None
    if any(v.build_image for v in versions(mode) if v.version == version):
        build = stack_build_image(mode, settings, version)
        _require_image(client, build)
    return stack.versioned_dockerfile(src, StackImages(version=version, run=run, build=build))


def build_image(
    client: docker.DockerClient,
    src: Path,
    *,
    app: str,
    tag: str,
    settings: Settings,
    log: Log,
    jail: BuildJail | None = None,
    cancel: Cancellation | None = None,
    dockerfile_path: str | None = None,
) -> BuiltImage:
    """Build the source tree at `src` into the image `xae/app-<app>:<tag>`.

    `dockerfile_path` (the app's `--dockerfile`, validated by `xae.domain.buildfiles`) makes it
    a Dockerfile build from that file, whatever else the tree holds.

    Writes nothing into `src`; the build context is assembled in a temporary file in `src`'s
    parent, which must be a directory xae owns (the build's work dir). Every build log line
    goes to `log` as it arrives. The build runs confined by `jail` (default: a BuildJail from
    `settings`). Raises BuildFailed (with the log's tail; BuildTimedOut when the build
    overruns `settings.build_timeout`), BuildCancelled (when `cancel` was pulled), InvalidProcfile,
    InvalidManifest, InvalidName.
    """
    ref = image_ref(app, tag)
    mode: BuildMode = "dockerfile" if dockerfile_path else detect(src)
    manifest = read_manifest(src, log)
    processes = manifest_processes(manifest) or plan_processes(src, mode)
    if manifest is not None:
        processes = finish_plan(src, manifest, processes, mode, log)
    log(f"-----> {mode} app detected")
    exclude = ignore_patterns(src)
    labels = {LABEL_APP: app, LABEL_PLANE: settings.plane}
    dockerfile = GENERATED_DOCKERFILE
    if mode == "dockerfile":
        text = app_dockerfile(src, dockerfile_path or DEFAULT_DOCKERFILE, settings, log)
        exclude += [p for p in (".dockerignore", GENERATED_DOCKERFILE) if p not in exclude]
    else:
        stack = STACKS[mode]
        if mode in VERSIONED_STACKS:
            text = with_labels(_versioned_dockerfile(client, src, mode, settings, log), labels)
        elif mode == "node":
            node_plan = node.plan(src)
            base_image = node_images.image_for(node_plan.runtime, settings)
            for line in node.describe(node_plan):
                log(line)
            _require_image(client, base_image)
            text = with_labels(node.render(node_plan, base_image), labels)
        else:
            base_image = stack_image(mode, settings)
            _require_image(client, base_image)
            text = with_labels(stack.dockerfile(src, base_image), labels)
        if manifest is not None and manifest.build is not None:
            log("-----> the build command of the manifest runs in the image build")
            text = with_build_command(text, manifest.build.command)
        if read_procfile(src) is None and manifest_processes(manifest) is None:
            reason = VERSIONED_STACKS[mode].default_reason(src) if mode in VERSIONED_STACKS else ""
            log(
                f"-----> web: {processes['web']} ({reason + '; ' if reason else ''}"
                'override with a Procfile line "web: ...")'
            )
        exclude += [p for p in (*ALWAYS_IGNORED, *stack.IGNORE) if p not in exclude]
    # Unnamed, in the build's own work dir (a sibling of `src`): nothing the tenant shaped.
    with tempfile.TemporaryFile(dir=src.parent) as context:
        write_context(src, context, dockerfile, text, exclude)
        for attempt in range(1, ENGINE_RACE_ATTEMPTS + 1):
            context.seek(0)
            try:
                image_id = _run_build(
                    client,
                    context,
                    dockerfile,
                    ref,
                    labels,
                    log,
                    settings=settings,
                    jail=jail,
                    labels_in_dockerfile=mode != "dockerfile",
                    cancel=cancel,
                )
                break
            except _EngineRace:
                if attempt == ENGINE_RACE_ATTEMPTS:
                    raise
                log(
                    "-----> the engine removed an image while this build looked for cached "
                    "layers (another build's, or one being collected): building again"
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
        image_id=image_id,
        ref=ref,
        stack=mode,
        processes=processes,
        port=port,
        run_as=run_as,
        manifest=manifest.model_dump(mode="json", exclude_none=True) if manifest else None,
    )
