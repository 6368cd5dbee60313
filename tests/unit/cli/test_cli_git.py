"""`xae git:credential`: git's credential protocol, answered only for the logged-in API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xae.cli.credential import answer, credential_answer, parse_credential_request
from xae.cli.git import credential_key, helper_command, repo_url
from xae.clientconfig import ClientConfig, save

API = "http://127.0.0.1:5050"


def test_a_request_is_read_up_to_the_blank_line() -> None:
    text = "protocol=http\nhost=127.0.0.1:5050\npath=git/web.git\n\nprotocol=ignored\n"
    assert parse_credential_request(text) == {
        "protocol": "http",
        "host": "127.0.0.1:5050",
        "path": "git/web.git",
    }


def test_get_answers_the_token_as_the_password_for_the_logged_in_api() -> None:
    request = {"protocol": "http", "host": "127.0.0.1:5050"}
    assert credential_answer(request, API, "tok") == "username=xae\npassword=tok\n"


def test_another_host_or_scheme_gets_no_token() -> None:
    for request in (
        {"protocol": "http", "host": "evil.example"},
        {"protocol": "https", "host": "127.0.0.1:5050"},
        {"protocol": "http", "host": "127.0.0.1:5051"},
    ):
        assert credential_answer(request, API, "tok") == ""


def test_logged_out_answers_nothing() -> None:
    assert credential_answer({"protocol": "http", "host": "127.0.0.1:5050"}, API, None) == ""


def test_the_helper_is_set_for_the_apis_address_and_the_remote_is_under_it() -> None:
    assert credential_key(API + "/") == "credential.http://127.0.0.1:5050"
    assert repo_url(API + "/", "/git/web.git") == "http://127.0.0.1:5050/git/web.git"


@pytest.fixture
def logged_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A login saved with the token `stored`, and no override in the environment."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("XAE_TOKEN", raising=False)
    monkeypatch.delenv("XAE_API_URL", raising=False)
    save(ClientConfig(api_url=API, token="stored"))


@pytest.mark.usefixtures("logged_in")
def test_the_helper_answers_get_from_the_login_config_and_its_overrides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = "protocol=http\nhost=127.0.0.1:5050\n\n"
    assert answer("get", request) == "username=xae\npassword=stored\n"
    assert answer("store", request + "username=xae\npassword=stored\n") == ""
    assert answer("erase", request) == ""
    monkeypatch.setenv("XAE_TOKEN", "from-ci")
    assert answer("get", request) == "username=xae\npassword=from-ci\n"
    monkeypatch.setenv("XAE_API_URL", "https://xae.example.org")
    assert answer("get", request) == ""


def test_git_runs_the_helper_as_a_small_module_of_this_python_only_to_get() -> None:
    assert helper_command() == (
        f'!f() {{ test "$1" = get || exit 0; exec {sys.executable} -m xae.cli.credential get; }}; f'
    )


@pytest.mark.usefixtures("logged_in")
def test_the_helper_command_answers_get_with_the_token_and_store_with_nothing() -> None:
    """Run as git runs it: `sh -c '<command without !> ACTION'`, the request on stdin."""
    request = "protocol=http\nhost=127.0.0.1:5050\n\n"
    script = helper_command()[1:]

    def run(action: str) -> str:
        return subprocess.run(
            ["sh", "-c", f"{script} {action}"],
            input=request,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout

    assert run("get") == "username=xae\npassword=stored\n"
    assert run("store") == "" and run("erase") == ""
