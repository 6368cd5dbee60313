"""The node stack: the app's Node version, its own package manager, a build step, a slim result.

`plan` reads package.json and the lockfiles and decides, before anything runs:
- the Node version (`xae.builder.node_versions`: `engines.node`, else `.node-version` or
  `.nvmrc`; the newest offered version that satisfies it),
- the package manager, honoured as the app chose it, never replaced by `npm install`:
  `packageManager` (through corepack, which fetches exactly that version), else the lockfile:
  `pnpm-lock.yaml` (pnpm), `yarn.lock` (Yarn classic, or Yarn 2+ "berry" when the lock has
  `__metadata` or there is a `.yarnrc.yml`), `package-lock.json`/`npm-shrinkwrap.json`
  (`npm ci`), none (`npm install`). Every install is frozen to its lockfile,
- whether there is a build step (a `build` script): then devDependencies are installed for it
  and pruned after it, so the image keeps production dependencies only.

The generated Dockerfile copies only the manifests before the install, so a code-only change
reuses the dependency layer; the build step, which needs the code, runs after the code is
copied. An app whose own install scripts (`preinstall`/`install`/`postinstall`/`prepare`) or
workspaces need the code is installed after the code is copied, and the build log says that
code changes then reinstall. Everything runs as the app user; caches go to /tmp and are removed
in the same layer.

Like every stack module it renders text only; it never touches Docker or writes files.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xae.builder import node_versions, sourcefiles
from xae.builder.node_versions import NodeRuntime
from xae.builder.stacks import COPY_APP, LABELS_AT, RUN_AS_APP, no_default_command
from xae.domain.policy import APP_UID
from xae.errors import BuildFailed

IGNORE: tuple[str, ...] = ("node_modules", ".yarn/cache", ".yarn/install-state.gz")
"""Extra `.dockerignore` patterns: a local node_modules would overwrite the image's."""

NPM_LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json")
LOCKFILES = (*NPM_LOCKFILES, "yarn.lock", "pnpm-lock.yaml")
CONFIG_FILES = (".npmrc", ".yarnrc", ".yarnrc.yml", "pnpm-workspace.yaml", ".pnpmfile.cjs")
"""Files the install reads besides package.json and the lockfile (registries, linker)."""
SCRIPTS = ("server.js", "index.js", "app.js")
INSTALL_SCRIPTS = ("preinstall", "install", "postinstall", "prepare")
"""The app's own lifecycle scripts an install runs; they may need the code."""

_PACKAGE_MANAGER = re.compile(r"^(npm|yarn|pnpm)@(\d+)\.\d+\.\d+([-+][0-9A-Za-z.+-]*)?$")
_NPM = "--no-audit --no-fund --cache /tmp/.npm-cache"
_YARN = "--non-interactive --cache-folder /tmp/.yarn-cache"
_PNPM = "--store-dir /tmp/.pnpm-store"
_CLEAN = {
    "npm": "rm -rf /tmp/.npm-cache",
    "yarn classic": "rm -rf /tmp/.yarn-cache",
    "yarn berry": "true",  # its cache may be what Plug'n'Play loads packages from: kept
    "pnpm": "rm -rf /tmp/.pnpm-store",
}

PNPM_FOR_LOCKFILE = {"5": "pnpm@7", "6": "pnpm@8", "9": "pnpm@9"}
"""pnpm's major for a lockfile's `lockfileVersion` major, when packageManager does not say."""
YARN_FOR_METADATA = {"4": "yarn@2", "6": "yarn@3"}
"""Yarn berry's major for yarn.lock's `__metadata.version` (8 and newer: Yarn 4)."""


@dataclass(frozen=True)
class Manager:
    """The package manager an app is installed with."""

    name: str
    """`npm`, `yarn` or `pnpm` (the command)."""
    flavour: str
    """What the build log calls it: `npm`, `yarn classic`, `yarn berry`, `pnpm`."""
    lockfile: str | None
    corepack: str | None
    """`corepack install` when packageManager pins the manager, `corepack install -g
    <name>@<major>` (from xae's own tables) when a lockfile chose it; None for npm."""
    modern_yarn: bool = True
    """For yarn berry: 4 or newer (has `workspaces focus`, used to prune)."""


@dataclass(frozen=True)
class NodePlan:
    """Everything the node stack decided about one source tree."""

    runtime: NodeRuntime
    version_from: str
    """Where the version came from, for the build log: "engines.node '>=20'", "default"."""
    manager: Manager
    manifests: tuple[str, ...]
    """Copied before the install (package.json, the lockfile, config files)."""
    install: str
    build: str | None
    prune: str | None
    install_after_code: str | None
    """Why the install runs after the code is copied (its cache then follows the code)."""


def read_package_json(src: Path) -> dict[str, Any]:
    """package.json as a dict; BuildFailed saying where if it is not a JSON object."""
    text = sourcefiles.read_text(src, "package.json")
    if text is None:
        raise BuildFailed("package.json is not a regular file; add one at the app's top")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        # e.msg is one of json's fixed descriptions; the content itself is never quoted.
        raise BuildFailed(
            f"package.json is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}"
        ) from None
    if not isinstance(data, dict):
        raise BuildFailed("package.json must contain a JSON object")
    return data


def _scripts(package: dict[str, Any]) -> dict[str, Any]:
    scripts = package.get("scripts")
    return scripts if isinstance(scripts, dict) else {}


def _first_line(src: Path, name: str) -> str | None:
    text = sourcefiles.read_text(src, name)
    if text is None:
        return None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            return line
    return None


def choose_runtime(src: Path, package: dict[str, Any]) -> tuple[NodeRuntime, str]:
    """The Node runtime for the app and where its constraint came from."""
    engines = package.get("engines")
    wanted = engines.get("node") if isinstance(engines, dict) else None
    if wanted is not None and not isinstance(wanted, str):
        raise BuildFailed('package.json\'s engines.node must be a string, e.g. ">=20"')
    where = "engines.node"
    if wanted is None:
        for name in (".node-version", ".nvmrc"):
            wanted = _first_line(src, name)
            if wanted is not None:
                where = name
                break
    runtime = node_versions.choose(wanted, where)
    source = "default: the newest offered" if wanted is None else f"{where} {wanted[:60]!r}"
    return runtime, source


def _pinned_manager(package: dict[str, Any]) -> tuple[str, int] | None:
    pinned = package.get("packageManager")
    if pinned is None:
        return None
    match = _PACKAGE_MANAGER.match(pinned) if isinstance(pinned, str) else None
    if match is None:
        raise BuildFailed(
            "package.json's packageManager must name npm, yarn or pnpm with an exact version, "
            'e.g. "pnpm@9.15.9" (corepack adds a +sha512 hash with `corepack use pnpm@9`)'
        )
    return match.group(1), int(match.group(2))


def _berry_major(lock: str) -> str:
    match = re.search(r"^__metadata:\s*\n\s+version:\s*(\d+)", lock, re.MULTILINE)
    return YARN_FOR_METADATA.get(match.group(1) if match else "", "yarn@4")


def choose_manager(src: Path, package: dict[str, Any]) -> Manager:
    """The package manager the app asked for (see the module docstring)."""
    lockfile = next((name for name in LOCKFILES if sourcefiles.is_file(src, name)), None)
    pinned = _pinned_manager(package)
    if pinned is not None:
        name, major = pinned
        own_lock = {"npm": NPM_LOCKFILES, "yarn": ("yarn.lock",), "pnpm": ("pnpm-lock.yaml",)}
        lock = next((n for n in own_lock[name] if sourcefiles.is_file(src, n)), None)
        if name == "npm":
            return Manager("npm", "npm", lock, None)
        flavour = "yarn classic" if (name, major) == ("yarn", 1) else name
        if name == "yarn" and major >= 2:
            flavour = "yarn berry"
        return Manager(name, flavour, lock, "corepack install", modern_yarn=major >= 4)
    if lockfile == "pnpm-lock.yaml":
        text = sourcefiles.read_text(src, lockfile) or ""
        match = re.search(r"^lockfileVersion:\s*'?(\d+)", text, re.MULTILINE)
        spec = PNPM_FOR_LOCKFILE.get(match.group(1) if match else "", "pnpm@9")
        return Manager("pnpm", "pnpm", lockfile, f"corepack install -g {spec}")
    if lockfile == "yarn.lock":
        text = sourcefiles.read_text(src, lockfile) or ""
        if "__metadata:" in text or sourcefiles.is_file(src, ".yarnrc.yml"):
            spec = _berry_major(text)
            return Manager(
                "yarn", "yarn berry", lockfile, f"corepack install -g {spec}", spec == "yarn@4"
            )
        return Manager("yarn", "yarn classic", lockfile, "corepack install -g yarn@1")
    return Manager("npm", "npm", lockfile, None)


def _commands(manager: Manager, dev: bool) -> tuple[str, str | None]:
    """The install command (with devDependencies when `dev`) and the prune after a build."""
    if manager.name == "npm":
        verb = "ci" if manager.lockfile else "install"
        omit = "--include=dev" if dev else "--omit=dev"
        return f"npm {verb} {omit} {_NPM}", f"npm prune --omit=dev {_NPM}"
    if manager.flavour == "yarn classic":
        frozen = "--frozen-lockfile " if manager.lockfile else ""
        install = f"yarn install {frozen}{_YARN} --production={'false' if dev else 'true'}"
        prune = f"yarn install {frozen}{_YARN} --production=true --ignore-scripts --prefer-offline"
        return install, prune
    if manager.name == "yarn":  # berry
        immutable = "yarn install --immutable" if manager.lockfile else "yarn install"
        focus = "yarn workspaces focus --all --production"
        if not manager.modern_yarn:
            return immutable, None
        return (immutable if dev else focus), focus
    frozen = "--frozen-lockfile" if manager.lockfile else "--no-frozen-lockfile"
    prod = "--prod=false" if dev else "--prod"
    return f"pnpm install {frozen} {prod} {_PNPM}", f"pnpm prune --prod {_PNPM}"


def plan(src: Path) -> NodePlan:
    """What the node stack will do with the app at `src`; BuildFailed when it cannot."""
    package = read_package_json(src)
    runtime, version_from = choose_runtime(src, package)
    manager = choose_manager(src, package)
    if manager.corepack is not None and not runtime.has_corepack:
        raise BuildFailed(
            f"this app uses {manager.flavour}, which xae runs through corepack, and corepack "
            f"needs Node 20 or newer; {version_from} chose Node {runtime.version}. Allow Node "
            f">=20 (offered: {node_versions.offered()})"
        )
    scripts = _scripts(package)
    dev = bool(scripts.get("build"))
    install, prune = _commands(manager, dev)
    build = f"{manager.name} run build" if dev else None
    manifests = ["package.json"]
    if manager.lockfile is not None:
        manifests.append(manager.lockfile)
    manifests += [name for name in CONFIG_FILES if sourcefiles.is_file(src, name)]
    reasons = [name for name in INSTALL_SCRIPTS if scripts.get(name)]
    after_code = None
    if reasons:
        after_code = f"package.json has a {'/'.join(reasons)} script, which may need the code"
    elif package.get("workspaces") or "pnpm-workspace.yaml" in manifests:
        after_code = "the app has workspaces, whose package.json files are part of the code"
    if manager.flavour == "yarn berry" and _yarn_path(src):
        after_code = after_code or ".yarnrc.yml runs a checked-in Yarn release (yarnPath)"
    return NodePlan(
        runtime=runtime,
        version_from=version_from,
        manager=manager,
        manifests=tuple(manifests),
        install=install,
        build=build,
        prune=prune if dev else None,
        install_after_code=after_code,
    )


def _yarn_path(src: Path) -> bool:
    text = sourcefiles.read_text(src, ".yarnrc.yml")
    return text is not None and re.search(r"^yarnPath:", text, re.MULTILINE) is not None


def describe(node_plan: NodePlan) -> list[str]:
    """What the build will do, for the build log (the commands run as printed)."""
    p = node_plan
    lock = f" ({p.manager.lockfile})" if p.manager.lockfile else " (no lockfile)"
    lines = [
        f"-----> Node.js {p.runtime.version} ({p.version_from}; offered: "
        f"{node_versions.offered()})",
        f"-----> installing with {p.manager.flavour}{lock}: {p.install}",
    ]
    if p.manager.corepack is not None:
        lines.append(f"       the package manager comes from corepack: {p.manager.corepack}")
    if p.install_after_code is not None:
        lines.append(
            f"       {p.install_after_code}: installing after the code is copied (a code "
            "change reinstalls the dependencies)"
        )
    if p.build is not None:
        prune = f", then pruning devDependencies: {p.prune}" if p.prune else ""
        lines.append(f"-----> build step: {p.build}{prune}")
    return lines


def dockerfile(src: Path, base_image: str) -> str:
    """The Dockerfile text that builds the node app at `src` on `base_image`."""
    return render(plan(src), base_image)


def render(node_plan: NodePlan, base_image: str) -> str:
    """The Dockerfile for `node_plan` on `base_image` (the plan's runtime image).

    Without a build step: manifests, production install, code. With one, in stages so the run
    image is slim and a code change reuses every install: `deps` installs everything from the
    manifests; `prod` prunes a copy of it to production dependencies; `build` adds the code and
    runs the build; the final image takes `prod`'s node_modules and `build`'s /app (code and
    build output, its node_modules removed), owned by the app user."""
    p = node_plan
    clean = _CLEAN[p.manager.flavour]
    install = " && ".join([*([p.manager.corepack] if p.manager.corepack else []), p.install])
    chown = f"--chown={APP_UID}:{APP_UID}"
    manifests = f"COPY {chown} {' '.join(p.manifests)} /app/"
    head = ["# Generated by xae (node stack).", f"FROM {base_image}"]
    if p.build is None:
        if p.install_after_code is not None:
            return _lines(*head, LABELS_AT, COPY_APP, RUN_AS_APP, f"RUN {install} && {clean}")
        return _lines(
            *head, manifests, RUN_AS_APP, f"RUN {install} && {clean}", COPY_APP, RUN_AS_APP
        )
    finish = [p.build, *([p.prune] if p.prune else []), clean]
    if p.install_after_code is not None:
        return _lines(
            *head, LABELS_AT, COPY_APP, RUN_AS_APP, f"RUN {install} && {' && '.join(finish)}"
        )
    prune = p.prune or "true"
    # The stages run as root: the engine's classic builder under userns-remap cannot
    # `COPY --from` files a non-root user owns (the final COPYs give them to the app user).
    corepack_home = "/root/.cache/node/corepack"
    keep_manager = (
        [f"COPY {chown} --from=deps {corepack_home} /home/app/.cache/node/corepack"]
        if p.manager.corepack
        else []
    )
    return _lines(
        f"{head[0]} Stages: deps (all dependencies), prod (pruned), build (the build step).",
        f"FROM {base_image} AS deps",
        "USER 0",
        "RUN chown 0:0 /app",
        f"COPY {' '.join(p.manifests)} /app/",
        f"RUN {install} && {clean}",
        "FROM deps AS prod",
        f"RUN {prune} && mkdir -p node_modules && {clean}",
        "FROM deps AS build",
        "COPY . /app",
        f"RUN {p.build} && rm -rf node_modules",
        f"FROM {base_image}",
        *keep_manager,
        f"COPY {chown} --from=prod /app/node_modules /app/node_modules",
        LABELS_AT,
        f"COPY {chown} --from=build /app /app",
        RUN_AS_APP,
    )


def _lines(*lines: str) -> str:
    return "\n".join([*lines, ""])


def default_command(src: Path) -> str:
    """The `web` command when there is no Procfile.

    `npm start` when package.json has a start script, else `node` on the first of server.js,
    index.js, app.js, or package.json's `main`.
    """
    package = read_package_json(src)
    if _scripts(package).get("start"):
        return "npm start"
    for script in SCRIPTS:
        if sourcefiles.is_file(src, script):
            return f"node {script}"
    main = package.get("main")
    if (
        isinstance(main, str)
        and main
        and "\0" not in main
        and _inside(src, main)
        and sourcefiles.is_file(src, main)
    ):
        return f"node {shlex.quote(main)}"
    raise no_default_command(
        "node", f"a start script in package.json, one of {', '.join(SCRIPTS)}, or `main`"
    )


def _inside(src: Path, relative: str) -> bool:
    root = src.resolve()
    return (root / relative).resolve().is_relative_to(root)
