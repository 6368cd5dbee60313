"""An app's own Dockerfile, made buildable by the confined classic builder.

xae builds every Dockerfile with the engine's classic builder because that is the builder the
jail (`xae.builder.jail`) confines: BuildKit in Docker 20.10's daemon ignores the build API's
memory, CPU and cgroup-parent parameters and accepts no user-defined network, so a BuildKit build
would run without the memory/CPU/PIDs limits and outside the build network's firewall. The
BuildKit-only syntax apps commonly use is therefore translated, not run by BuildKit:

- `RUN --mount=type=cache,...` (and `type=tmpfs`): the flag is dropped. A cache mount only speeds
  repeated builds; without it the step does the same work and its files stay in the layer.
- `# syntax=...`: the frontend image cannot be pulled here (no registry); the directive is
  dropped and the built-in Dockerfile syntax is used. Said in the build log.
- other `RUN` flags (`--mount=type=secret|ssh|bind`, `--network`, `--security`) cannot be had
  safely and are refused, naming the line.

With `XAE_BUILD_REGISTRY_MIRROR` set, a `FROM` of a Docker Hub image (`redis:7`,
`bitnami/redis`) is rewritten to pull from the mirror (`mirror/library/redis:7`); stage names,
`scratch`, references with a registry host and references built from `ARG`s stay as written.

What it must never do: execute or fetch anything, or echo long stretches of the Dockerfile (it
is tenant text; messages name the line number and cut quotes short).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from xae.errors import BuildFailed

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z]+)\s*=\s*(.*?)\s*$")
_INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)(\s+|$)")
_FLAG = re.compile(r"--([a-z-]+)(?:=(\S*))?\s*")
_DROPPED_MOUNTS = ("cache", "tmpfs")


@dataclass
class Prepared:
    """A Dockerfile ready for the classic builder, and what was changed, for the build log."""

    text: str
    notes: list[str] = field(default_factory=list)


def _continues(line: str, escape: str) -> bool:
    return line.rstrip().endswith(escape) and not line.lstrip().startswith("#")


def _mount_type(spec: str) -> str:
    for part in spec.split(","):
        key, _, value = part.partition("=")
        if key.strip() == "type":
            return value.strip()
    return "bind"


def _rewrite_run(args: str, lineno: int, notes: list[str]) -> str | None:
    """The RUN arguments without the flags xae drops; None when there were none to drop."""
    rest = args.lstrip()
    dropped = False
    while rest.startswith("--"):
        match = _FLAG.match(rest)
        if match is None:
            break
        name, value = match.group(1), match.group(2) or ""
        if name != "mount":
            raise BuildFailed(
                f"Dockerfile line {lineno}: RUN --{name[:20]} is not available here (builds run "
                "with the classic builder inside xae's build jail); remove the flag"
            )
        kind = _mount_type(value)
        if kind not in _DROPPED_MOUNTS:
            raise BuildFailed(
                f"Dockerfile line {lineno}: RUN --mount=type={kind[:20]} is not available here "
                "(only type=cache and type=tmpfs, which xae drops: the step runs without the "
                "mount); copy what the step needs instead"
            )
        notes.append(
            f"Dockerfile line {lineno}: RUN --mount=type={kind} dropped (xae builds with the "
            "confined classic builder; the step runs without the mount)"
        )
        dropped = True
        rest = rest[match.end() :]
    return rest if dropped else None


def _mirrored(ref: str, mirror: str, stages: set[str]) -> str | None:
    """`ref` through `mirror` when it names a Docker Hub image; None to keep it as written."""
    if "$" in ref or ref.lower() in stages or ref.lower() == "scratch":
        return None
    first, slash, _ = ref.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return None  # has a registry host of its own
    if first == "docker.io" or first == "index.docker.io":
        return None
    return f"{mirror}/{ref if slash else 'library/' + ref}"


def _rewrite_from(args: str, mirror: str | None, stages: set[str], notes: list[str]) -> str:
    words = args.split()
    flags = [w for w in words if w.startswith("--")]
    rest = [w for w in words if not w.startswith("--")]
    if not rest:
        return args
    target = _mirrored(rest[0], mirror, stages) if mirror is not None else None
    if len(rest) >= 3 and rest[1].lower() == "as":
        stages.add(rest[2].lower())
    if target is None:
        return args
    notes.append(f"FROM {rest[0][:80]} pulled through the registry mirror as {target[:120]}")
    return " ".join([*flags, target, *rest[1:]])


def prepare(text: str, *, mirror: str | None = None) -> Prepared:
    """`text` (a Dockerfile) with BuildKit-only syntax translated and `FROM` lines mirrored."""
    lines = text.split("\n")
    notes: list[str] = []
    out: list[str] = []
    escape = "\\"
    index = 0
    # Parser directives: only at the very top, before any other comment or instruction.
    while index < len(lines):
        match = _DIRECTIVE.match(lines[index])
        if match is None:
            break
        key, value = match.group(1).lower(), match.group(2)
        if key == "syntax":
            notes.append(
                f"ignoring `# syntax={value[:60]}`: the frontend image cannot be pulled here; "
                "building with the built-in Dockerfile syntax"
            )
            out.append("")  # keep the line numbers the user sees
        else:
            if key == "escape" and value in ("\\", "`"):
                escape = value
            out.append(lines[index])
        index += 1
    stages: set[str] = set()
    while index < len(lines):
        start = index
        physical = [lines[index]]
        while index + 1 < len(lines):
            last = physical[-1]
            inside = len(physical) > 1 and (not last.strip() or last.lstrip().startswith("#"))
            if not inside and not _continues(last, escape):
                break
            index += 1
            physical.append(lines[index])
        index += 1
        match = _INSTRUCTION.match(physical[0])
        if match is None or physical[0].lstrip().startswith("#"):
            out.extend(physical)
            continue
        keyword = match.group(1).upper()
        if keyword == "RUN":
            joined = _join(physical, escape)
            rewritten = _rewrite_run(joined[match.end() :], start + 1, notes)
            if rewritten is not None:
                # One line in place of several: pad so later line numbers still match.
                out.append(f"{physical[0][: match.start(1)]}RUN {rewritten}")
                out.extend([""] * (len(physical) - 1))
                continue
        elif keyword == "FROM" and len(physical) == 1:
            args = physical[0][match.end() :]
            new = _rewrite_from(args, mirror, stages, notes)
            if new != args:
                out.append(f"{physical[0][: match.end()]}{new}")
                continue
        out.extend(physical)
    return Prepared("\n".join(out), notes)


def _join(physical: list[str], escape: str) -> str:
    """One instruction's physical lines joined the way the builder joins them."""
    parts: list[str] = []
    for number, line in enumerate(physical):
        if number and (not line.strip() or line.lstrip().startswith("#")):
            continue  # comments and blank lines inside a continued instruction
        stripped = line.rstrip()
        if number < len(physical) - 1 and stripped.endswith(escape):
            parts.append(stripped[: -len(escape)])
        else:
            parts.append(line)
    return "".join(parts)
