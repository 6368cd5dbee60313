"""Settings read from the environment: the registries an operator allows image deploys to
pull from although they are inside the platform."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from xae.config import Settings


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("127.0.0.1:5001", ["127.0.0.1:5001"]),
        (" Registry.Internal:5000 , 10.0.0.7 ", ["registry.internal:5000", "10.0.0.7"]),
        ('["localhost:5001", "10.0.0.7"]', ["localhost:5001", "10.0.0.7"]),
    ],
)
def test_allowed_registries_are_a_comma_or_json_list(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("XAE_ALLOWED_REGISTRIES", value)
    assert Settings().allowed_registries == expected


def test_nothing_is_allowed_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XAE_ALLOWED_REGISTRIES", raising=False)
    assert Settings().allowed_registries == []


@pytest.mark.parametrize("value", ["http://reg.internal:5000", "reg/path", "[1, 2]"])
def test_an_allowed_registry_that_is_not_host_or_host_port_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("XAE_ALLOWED_REGISTRIES", value)
    with pytest.raises(ValidationError, match="allowed_registries"):
        Settings()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", None), ("127.0.0.1:5000", "127.0.0.1:5000"), ("mirror.corp/hub", "mirror.corp/hub")],
)
def test_the_build_registry_mirror_is_a_host_port_and_optional_path(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str | None
) -> None:
    monkeypatch.setenv("XAE_BUILD_REGISTRY_MIRROR", value)
    assert Settings().build_registry_mirror == expected


@pytest.mark.parametrize("value", ["https://mirror.corp", "mirror corp", "mirror:5000/A B"])
def test_a_build_registry_mirror_with_a_scheme_or_spaces_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("XAE_BUILD_REGISTRY_MIRROR", value)
    with pytest.raises(ValidationError, match="build_registry_mirror"):
        Settings()
