"""The gate for an app's Dockerfile path."""

from __future__ import annotations

import pytest

from xae.domain.buildfiles import validate_dockerfile_path
from xae.errors import InvalidInput


@pytest.mark.parametrize(
    ("path", "normalized"),
    [
        ("deploy/Dockerfile", "deploy/Dockerfile"),
        ("./deploy//Dockerfile.prod", "deploy/Dockerfile.prod"),
        ("Dockerfile", "Dockerfile"),
        ("docker/web@2/Dockerfile", "docker/web@2/Dockerfile"),
    ],
)
def test_relative_paths_inside_the_tree_are_accepted(path: str, normalized: str) -> None:
    assert validate_dockerfile_path(path) == normalized


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/etc/passwd", "is absolute"),
        ("../Dockerfile", "leaves the app's source"),
        ("deploy/../../x", "leaves the app's source"),
        ("deploy/Docker file", "is not valid"),
        ("deploy/$(id)", "is not valid"),
        ("a\x00b", "is not valid"),
        (".", "is not valid"),
        ("a/" * 200 + "Dockerfile", "is not valid"),
    ],
)
def test_bad_paths_are_refused_saying_what_to_use(path: str, says: str) -> None:
    with pytest.raises(InvalidInput) as e:
        validate_dockerfile_path(path)
    assert says in e.value.message
    assert "deploy/Dockerfile" in e.value.message
