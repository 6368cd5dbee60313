"""Procfile parsing: `type: command` lines, the whole file rejected at the first bad line."""

from __future__ import annotations

import pytest

from xae.domain.procfile import MAX_PROCESS_TYPES, parse_procfile
from xae.errors import InvalidInput, InvalidProcfile


def test_each_line_becomes_a_process_type_and_its_command() -> None:
    text = "web: gunicorn app:app --bind 0.0.0.0:$PORT\nworker: python worker.py\n"
    assert parse_procfile(text) == {
        "web": "gunicorn app:app --bind 0.0.0.0:$PORT",
        "worker": "python worker.py",
    }


def test_comments_and_blank_lines_are_ignored() -> None:
    text = (
        "# the web process\n\n   \nweb: node server.js\n  # indented comment\n\n"
        "clock: node clock.js\n"
    )
    assert parse_procfile(text) == {"web": "node server.js", "clock": "node clock.js"}


def test_spaces_around_the_colon_and_command_are_trimmed() -> None:
    assert parse_procfile("  web   :   python app.py   ") == {"web": "python app.py"}


def test_a_colon_inside_the_command_stays_in_the_command() -> None:
    assert parse_procfile("web: gunicorn app:app")["web"] == "gunicorn app:app"


def test_an_empty_procfile_has_no_processes() -> None:
    assert parse_procfile("") == {}
    assert parse_procfile("# nothing yet\n\n") == {}


def test_a_line_without_a_colon_rejects_the_file_naming_the_line_number() -> None:
    with pytest.raises(InvalidProcfile) as caught:
        parse_procfile("web: python app.py\n\npython worker.py\n")
    assert "Procfile line 3" in caught.value.message
    assert "expected 'type: command'" in caught.value.message


def test_a_bad_line_rejects_the_whole_file_even_after_good_lines() -> None:
    with pytest.raises(InvalidProcfile, match="line 2"):
        parse_procfile("web: python app.py\nthis is not a procfile line\nworker: python w.py\n")


def test_a_process_type_defined_twice_is_rejected() -> None:
    with pytest.raises(InvalidProcfile) as caught:
        parse_procfile("web: python a.py\nworker: python w.py\nweb: python b.py\n")
    assert "Procfile line 3" in caught.value.message
    assert "defined twice (first on line 1)" in caught.value.message


@pytest.mark.parametrize("line", ["Web: python app.py", "2web: python app.py", "-web: x"])
def test_an_invalid_process_type_is_rejected(line: str) -> None:
    with pytest.raises(InvalidProcfile) as caught:
        parse_procfile(line)
    assert "Procfile line 1" in caught.value.message
    assert "must be lowercase letters" in caught.value.message


def test_a_process_type_with_shell_characters_is_not_a_procfile_line() -> None:
    with pytest.raises(InvalidProcfile, match="Procfile line 1"):
        parse_procfile("web;id: python app.py")


def test_a_process_type_without_a_command_is_rejected() -> None:
    with pytest.raises(InvalidProcfile) as caught:
        parse_procfile("web: python app.py\nworker:   \n")
    assert "Procfile line 2" in caught.value.message
    assert "has no command" in caught.value.message


def test_procfile_errors_are_invalid_input_with_their_own_code() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_procfile("nonsense")
    assert caught.value.code == "invalid_procfile"
    assert caught.value.status == 422


def test_a_very_long_bad_line_is_cut_short_in_the_message() -> None:
    with pytest.raises(InvalidProcfile) as caught:
        parse_procfile("x" * 500)
    assert len(caught.value.message) < 200


@pytest.mark.parametrize(
    "text",
    [
        "s3cr3t-Admin-Passw0rd\n",
        "web: ok\nS3cr3tAdmin: x\n",
        "web: ok\ns3cr3tadmin:\n",
        "s3cr3tadmin: a\ns3cr3tadmin: b\n",
        "s3cr3tadmin-" + "x" * 40 + ": cmd\n",
    ],
    ids=["no-colon", "bad-type", "no-command", "twice", "long-type"],
)
def test_an_error_never_quotes_the_file(text: str) -> None:
    # If a Procfile were ever a host file (a link to a password file), its first line must not
    # come back in the error: only the line number and what is wrong.
    with pytest.raises(InvalidProcfile) as caught:
        parse_procfile(text)
    assert "Procfile line" in caught.value.message
    assert "s3cr3t" not in caught.value.message.lower()


def test_at_most_max_process_types_are_accepted() -> None:
    enough = "".join(f"p{i}: run {i}\n" for i in range(MAX_PROCESS_TYPES))
    assert len(parse_procfile(enough)) == MAX_PROCESS_TYPES
    with pytest.raises(InvalidProcfile) as caught:
        parse_procfile(enough + "one-more: run\n")
    assert f"Procfile line {MAX_PROCESS_TYPES + 1}" in caught.value.message
    assert f"more than {MAX_PROCESS_TYPES} process types" in caught.value.message
