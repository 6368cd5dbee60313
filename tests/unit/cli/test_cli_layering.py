"""The CLI stays a pure API client: it imports nothing from xae but itself, the name gate, the
pure escape stripping for printed output, the enumerated states it colours, the role and
scope names it offers as choices, the rules of a traffic split it checks before sending, the
manifest and Procfile rules `manifest:check` applies locally (with the exceptions they raise),
and the client config file it shares with `xae-admin`."""

from __future__ import annotations

import ast
from pathlib import Path

import xae.cli

ALLOWED = (
    "xae.domain.names",
    "xae.domain.terminal",
    "xae.domain.states",
    "xae.domain.access",
    "xae.domain.splits",
    "xae.domain.manifest",
    "xae.domain.manifest_files",
    "xae.domain.procfile",
    "xae.errors",
    "xae.domain.previews",
    "xae.domain",
    "xae.clientconfig",
)


def _xae_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "xae.domain":
                found.update(f"xae.domain.{alias.name}" for alias in node.names)
    return {name for name in found if name == "xae" or name.startswith("xae.")}


def test_cli_imports_only_itself_and_the_name_gate() -> None:
    package = Path(xae.cli.__file__).parent
    offenders = {
        f"{path.name}: {name}"
        for path in package.glob("*.py")
        for name in _xae_imports(path)
        if not (name.startswith("xae.cli") or name in ALLOWED)
    }
    assert offenders == set()
