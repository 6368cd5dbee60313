"""The one validation gate for app names, process types and config keys."""

from __future__ import annotations

import pytest

from xae.domain.names import (
    APP_NAME_MAX,
    validate_app_name,
    validate_config_key,
    validate_process_type,
)
from xae.errors import InvalidInput, InvalidName


@pytest.mark.parametrize("name", ["a", "shop", "my-app", "app2", "a1-b2-c3", "x" * APP_NAME_MAX])
def test_app_names_that_are_dns_labels_are_accepted(name: str) -> None:
    assert validate_app_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "MyApp",  # uppercase
        "my.app",  # a dot would split the host name
        ".",
        "..",  # path traversal
        "../etc",
        "app;rm -rf /",  # shell metacharacters
        "app$(id)",
        "app`id`",
        "app|cat",
        "app&",
        "app name",  # whitespace
        "-app",  # leading dash
        "app-",  # trailing dash
        "my--app",  # double dash (punycode-like labels)
        "1app",  # must start with a letter
        "app_name",  # underscore is not valid in a DNS label
        "ápp",
    ],
)
def test_app_names_that_are_not_dns_labels_are_rejected_with_what_to_do(name: str) -> None:
    with pytest.raises(InvalidName) as caught:
        validate_app_name(name)
    message = caught.value.message
    assert "lowercase letters, digits and single dashes" in message
    assert "starting with a letter" in message


def test_an_empty_app_name_is_rejected_as_required() -> None:
    with pytest.raises(InvalidName, match="app name is required"):
        validate_app_name("")


def test_an_app_name_longer_than_the_maximum_is_rejected_saying_the_limit() -> None:
    name = "a" * (APP_NAME_MAX + 1)
    with pytest.raises(InvalidName) as caught:
        validate_app_name(name)
    assert f"is {APP_NAME_MAX + 1} characters long" in caught.value.message
    assert f"use at most {APP_NAME_MAX}" in caught.value.message


def test_invalid_names_are_invalid_input_with_a_stable_code() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_app_name("Bad")
    assert caught.value.code == "invalid_name"
    assert caught.value.status == 422


@pytest.mark.parametrize("ptype", ["web", "worker", "clock-2", "release_task", "w" * 30])
def test_valid_process_types_are_accepted(ptype: str) -> None:
    assert validate_process_type(ptype) == ptype


@pytest.mark.parametrize("ptype", ["", "Web", "2web", "-web", "web worker", "web;id", "w" * 31])
def test_invalid_process_types_are_rejected_with_what_to_do(ptype: str) -> None:
    with pytest.raises(InvalidName, match="use lowercase letters, digits, '-' or '_'"):
        validate_process_type(ptype)


@pytest.mark.parametrize("key", ["DATABASE_URL", "debug", "_PRIVATE", "A1", "K" * 128])
def test_valid_config_keys_are_accepted(key: str) -> None:
    assert validate_config_key(key) == key


@pytest.mark.parametrize("key", ["", "1KEY", "MY-KEY", "MY KEY", "KEY=VALUE", "KEY;id", "K" * 129])
def test_invalid_config_keys_are_rejected_with_what_to_do(key: str) -> None:
    with pytest.raises(InvalidName, match="use letters, digits and '_', not starting with a digit"):
        validate_config_key(key)


@pytest.mark.parametrize("key", ["PORT", "XAE_APP", "XAE_RELEASE", "XAE_"])
def test_config_keys_that_xae_sets_itself_are_reserved(key: str) -> None:
    with pytest.raises(InvalidName, match="is reserved by xae"):
        validate_config_key(key)


def test_lowercase_port_is_an_ordinary_config_key() -> None:
    assert validate_config_key("port") == "port"


# `re.match` with `$` also matches before a final newline, so the gate must use `fullmatch`.


def test_an_app_name_with_a_trailing_newline_is_rejected() -> None:
    with pytest.raises(InvalidName):
        validate_app_name("app\n")


def test_a_process_type_with_a_trailing_newline_is_rejected() -> None:
    with pytest.raises(InvalidName):
        validate_process_type("web\n")


def test_a_config_key_with_a_trailing_newline_is_rejected() -> None:
    with pytest.raises(InvalidName):
        validate_config_key("KEY\n")
