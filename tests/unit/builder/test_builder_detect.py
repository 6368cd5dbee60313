"""detect: the build mode follows well-known file names in a fixed, documented order."""

from __future__ import annotations

from pathlib import Path

import pytest

from xae.builder.detect import detect
from xae.errors import BuildFailed


def _tree(root: Path, *names: str) -> Path:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    return root


@pytest.mark.parametrize(
    ("files", "mode"),
    [
        (["Dockerfile", "requirements.txt", "package.json", "index.html"], "dockerfile"),
        (["requirements.txt", "package.json", "index.html"], "python"),
        (["pyproject.toml", "index.html"], "python"),
        (["package.json", "index.html"], "node"),
        (["index.html", "style.css"], "static"),
    ],
)
def test_first_matching_rule_wins(tmp_path: Path, files: list[str], mode: str) -> None:
    assert detect(_tree(tmp_path, *files)) == mode


def test_nothing_recognised_lists_what_xae_looks_for(tmp_path: Path) -> None:
    with pytest.raises(BuildFailed) as raised:
        detect(_tree(tmp_path, "README.md", "main.go"))
    message = raised.value.message
    for name in ("Dockerfile", "requirements.txt", "pyproject.toml", "package.json", "index.html"):
        assert name in message


def test_a_manifest_in_a_subdirectory_does_not_count(tmp_path: Path) -> None:
    with pytest.raises(BuildFailed):
        detect(_tree(tmp_path, "web/package.json"))


def test_an_archive_of_the_parent_directory_gets_a_hint(tmp_path: Path) -> None:
    _tree(tmp_path, "myapp/app.py", "myapp/requirements.txt")
    with pytest.raises(BuildFailed, match=r"single directory 'myapp'.*tar -C myapp"):
        detect(tmp_path)


def test_a_directory_named_like_a_manifest_does_not_count(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").mkdir()
    _tree(tmp_path, "index.html")
    assert detect(tmp_path) == "static"
