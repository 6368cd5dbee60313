"""The node stack's plan: version, package manager, build step and layer order, from the real
sample apps' manifests (tests/fixtures/apps) and small hand-made trees."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from xae.builder.build import with_labels
from xae.builder.stacks import COPY_APP, LABELS_AT, node
from xae.errors import BuildFailed

FIXTURES = Path(__file__).parents[2] / "fixtures" / "apps"
BASE = "xae/stack-node-24:abc"


def _fixture(tmp_path: Path, name: str) -> Path:
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def _tree(tmp_path: Path, package: dict[str, Any], **files: str) -> Path:
    src = tmp_path / "app"
    src.mkdir()
    (src / "package.json").write_text(json.dumps(package))
    for name, text in files.items():
        (src / name).write_text(text)
    return src


def _lines(text: str) -> list[str]:
    return text.splitlines()


def test_yarn_classic_installs_frozen_through_corepacks_yarn_1(tmp_path: Path) -> None:
    plan = node.plan(_fixture(tmp_path, "node-yarn"))
    assert plan.manager.flavour == "yarn classic"
    assert plan.manager.corepack == "corepack install -g yarn@1"
    assert plan.install.startswith("yarn install --frozen-lockfile ")
    assert "--production=true" in plan.install
    lines = _lines(node.render(plan, BASE))
    assert "COPY --chown=10001:10001 package.json yarn.lock /app/" in lines
    install = next(i for i, line in enumerate(lines) if "yarn install" in line)
    assert install < lines.index(COPY_APP), "the install layer must not depend on the code"


def test_pnpm_without_packagemanager_takes_its_major_from_the_lockfile(tmp_path: Path) -> None:
    plan = node.plan(_fixture(tmp_path, "node-pnpm"))
    assert plan.manager.name == "pnpm"
    assert plan.manager.corepack == "corepack install -g pnpm@9"
    assert plan.install.startswith("pnpm install --frozen-lockfile --prod ")


def test_packagemanager_pins_yarn_berry_through_corepack(tmp_path: Path) -> None:
    src = _fixture(tmp_path, "node-corepack")
    plan = node.plan(src)
    assert plan.manager.flavour == "yarn berry"
    assert plan.manager.corepack == "corepack install"
    assert plan.install == "yarn workspaces focus --all --production"
    assert ".yarnrc.yml" in plan.manifests
    assert any("corepack install" in line for line in node.describe(plan))


def test_typescript_build_installs_dev_dependencies_builds_then_ships_pruned_ones(
    tmp_path: Path,
) -> None:
    plan = node.plan(_fixture(tmp_path, "node-typescript"))
    assert plan.install.startswith("npm ci --include=dev")
    assert plan.build == "npm run build"
    assert plan.prune is not None and plan.prune.startswith("npm prune --omit=dev")
    text = with_labels(node.render(plan, BASE), {"xae.app": "ts"})
    lines = _lines(text)
    stages = [line for line in lines if line.startswith("FROM ")]
    assert stages == [
        f"FROM {BASE} AS deps",
        "FROM deps AS prod",
        "FROM deps AS build",
        f"FROM {BASE}",
    ]
    # The installs come before the code; the build after it; the labels in the final stage.
    code = lines.index("COPY . /app")
    assert code > next(i for i, line in enumerate(lines) if "npm ci" in line)
    assert code < next(i for i, line in enumerate(lines) if "npm run build" in line)
    # The final stage takes pruned dependencies and the built app, owned by the app user.
    final = lines[lines.index(f"FROM {BASE}") :]
    assert "COPY --chown=10001:10001 --from=prod /app/node_modules /app/node_modules" in final
    assert "COPY --chown=10001:10001 --from=build /app /app" in final
    assert LABELS_AT not in lines
    assert lines.index('LABEL "xae.app"="ts"') > lines.index(f"FROM {BASE}")
    assert lines[-1] == "USER 10001"
    assert any("build step: npm run build" in line for line in node.describe(plan))


def test_engines_node_picks_the_version_and_the_log_says_why(tmp_path: Path) -> None:
    plan = node.plan(_fixture(tmp_path, "node-engines"))
    assert plan.runtime.version == "24.22.3"
    assert "engines.node '>=20'" in node.describe(plan)[0]


@pytest.mark.parametrize(
    ("name", "text", "version"),
    [(".node-version", "20\n", "20.20.2"), (".nvmrc", "# pinned\nlts/jod\n", "22.23.5")],
)
def test_node_version_files_are_read_when_engines_says_nothing(
    tmp_path: Path, name: str, text: str, version: str
) -> None:
    src = _tree(tmp_path, {"name": "a"}, **{name: text})
    assert node.plan(src).runtime.version == version


def test_engines_wins_over_node_version(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"engines": {"node": "22.x"}}, **{".node-version": "20"})
    assert node.plan(src).runtime.version == "22.23.5"


def test_yarn_on_node_18_is_refused_saying_to_allow_20(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"engines": {"node": "18.x"}}, **{"yarn.lock": "# yarn lockfile v1\n"})
    with pytest.raises(BuildFailed) as e:
        node.plan(src)
    assert "corepack needs Node 20 or newer" in e.value.message


@pytest.mark.parametrize("pinned", ["bun@1.1.0", "pnpm@latest", "yarn@4; rm -rf /", 7])
def test_a_packagemanager_that_is_not_exact_is_refused(tmp_path: Path, pinned: object) -> None:
    src = _tree(tmp_path, {"packageManager": pinned})
    with pytest.raises(BuildFailed) as e:
        node.plan(src)
    assert "packageManager must name npm, yarn or pnpm" in e.value.message


def test_a_postinstall_script_installs_after_the_code_and_says_so(tmp_path: Path) -> None:
    src = _tree(
        tmp_path, {"scripts": {"postinstall": "node setup.js"}}, **{"package-lock.json": "{}"}
    )
    plan = node.plan(src)
    assert plan.install_after_code is not None and "postinstall" in plan.install_after_code
    lines = _lines(node.render(plan, BASE))
    assert lines.index(COPY_APP) < next(i for i, line in enumerate(lines) if "npm ci" in line)
    assert any("a code change reinstalls" in line for line in node.describe(plan))


def test_berry_is_recognised_by_the_lockfiles_metadata_without_packagemanager(
    tmp_path: Path,
) -> None:
    lock = '__metadata:\n  version: 6\n  cacheKey: 8\n\n"a@npm:1":\n  version: 1.0.0\n'
    plan = node.plan(_tree(tmp_path, {"name": "a"}, **{"yarn.lock": lock}))
    assert plan.manager.flavour == "yarn berry"
    assert plan.manager.corepack == "corepack install -g yarn@3"
    assert plan.install == "yarn install --immutable"
