"""Every name gate refuses injection, traversal and look-alikes, and says what is allowed.

Each hostile value below is one that has broken a PaaS somewhere: shell metacharacters and
newlines reach command lines and config files, `{` and `;` end an nginx block, `..` climbs out
of a directory, NUL cuts a C string short, a megabyte name costs memory in every message, and
a Cyrillic `а`, a fullwidth letter, a zero-width joiner or a right-to-left override make one
name look like another. The gates are allow-lists, so all of them fail the same way: a refusal
with a stable code, a rule the user can follow, and the value escaped and cut short.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from xae.domain.health import validate_health_path
from xae.domain.images import validate_image_ref
from xae.domain.names import (
    EMAIL_MAX,
    TEAM_NAME_MAX,
    validate_app_name,
    validate_config_key,
    validate_email,
    validate_process_type,
    validate_team_name,
)
from xae.errors import InvalidInput, InvalidName

HOSTILE = {
    "semicolon": "web;id",
    "pipe": "web|id",
    "ampersand": "web&id",
    "backtick": "web`id`",
    "dollar": "web$(id)",
    "dollar-brace": "web${IFS}id",
    "brace": "web{",
    "closing-brace": "web}",
    "quote": "web'id",
    "double-quote": 'web"id',
    "space": "web id",
    "tab": "web\tid",
    "newline": "web\nid",
    "trailing-newline": "web\n",
    "carriage-return": "web\rid",
    "nul": "web\x00id",
    "dot-dot": "..",
    "traversal": "../web",
    "slash": "web/id",
    "backslash": "web\\id",
    "very-long": "w" * 100_000,
    "cyrillic-a": "w\u0435b",  # Cyrillic 'е' in place of Latin 'e'
    "fullwidth": "\uff57eb",  # fullwidth 'ｗ'
    "zero-width-joiner": "we\u200db",
    "rtl-override": "\u202ebew",
    "kelvin-sign": "\u212aey",  # lower-cases to ASCII 'k'
}

GATES: dict[str, Callable[[str], str]] = {
    "app name": validate_app_name,
    "team name": validate_team_name,
    "process type": validate_process_type,
    "config key": validate_config_key,
    "user email": lambda value: validate_email(f"{value}@example.com"),
    "health path": lambda value: validate_health_path(f"/{value}"),
    "image reference": validate_image_ref,
}

_RULES = {
    "app name": "lowercase letters, digits and single dashes",
    "team name": "lowercase letters, digits and single dashes",
    "process type": "lowercase letters, digits, '-' or '_'",
    "config key": "letters, digits and '_'",
    "user email": "ASCII letters, digits",
    "health path": "",
    "image reference": "",
}


def _allowed_anyway(gate: str, kind: str) -> bool:
    """The few hostile values a gate allows because they are harmless where it is used."""
    if gate == "health path":
        # RFC 3986 path characters: the path is percent-checked, never reaches a shell, and is
        # sent as one request line; `/`, `;`, `&`, `$`, `'`, `(`, `)` and `..` are valid in it.
        return kind in {
            "slash",
            "semicolon",
            "ampersand",
            "dollar",
            "quote",
            "dot-dot",
            "traversal",
        }
    # `web/id` is a repository path, as in `library/nginx`.
    return gate == "image reference" and kind == "slash"


@pytest.mark.parametrize("gate", sorted(GATES))
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_every_gate_refuses_each_hostile_value_saying_what_is_allowed(gate: str, kind: str) -> None:
    value = HOSTILE[kind]
    if _allowed_anyway(gate, kind):
        GATES[gate](value)
        return
    with pytest.raises(InvalidInput) as caught:
        GATES[gate](value)
    message = caught.value.message
    assert caught.value.status == 422
    assert _RULES[gate] in message or "use at most" in message
    # The refused value comes back escaped (no raw control or non-ASCII character) and short.
    assert message.isascii() or "…" in message
    assert all(c.isprintable() for c in message)
    assert len(message) < 800


@pytest.mark.parametrize("gate", ["app name", "team name", "process type", "config key"])
def test_name_gates_raise_invalid_name(gate: str) -> None:
    with pytest.raises(InvalidName):
        GATES[gate]("web;id")


@pytest.mark.parametrize("name", ["a", "core", "data-eng", "team2", "t" * TEAM_NAME_MAX])
def test_team_names_like_app_names_are_accepted(name: str) -> None:
    assert validate_team_name(name) == name


@pytest.mark.parametrize("name", ["Core", "-core", "core-", "da--ta", "1core", "co_re", "c.o"])
def test_team_names_that_are_not_dns_labels_are_refused(name: str) -> None:
    with pytest.raises(InvalidName, match="team name .* is not valid"):
        validate_team_name(name)


def test_an_empty_or_overlong_team_name_is_refused_saying_the_rule() -> None:
    with pytest.raises(InvalidName, match="team name is required"):
        validate_team_name("")
    with pytest.raises(InvalidName, match=f"use at most {TEAM_NAME_MAX}"):
        validate_team_name("t" * (TEAM_NAME_MAX + 1))


@pytest.mark.parametrize(
    ("email", "stored"),
    [
        ("ada@example.com", "ada@example.com"),
        ("Ada.Lovelace@Example.COM", "ada.lovelace@example.com"),
        ("ci+deploy@build-1.example.org", "ci+deploy@build-1.example.org"),
        ("dev_2@localhost", "dev_2@localhost"),
    ],
)
def test_emails_are_accepted_lower_cased(email: str, stored: str) -> None:
    assert validate_email(email) == stored


@pytest.mark.parametrize(
    "email",
    [
        "",
        "ada",
        "@example.com",
        "ada@",
        "ada@@example.com",
        "ada@b@example.com",
        ".ada@example.com",
        "ada.@example.com",
        "a..da@example.com",
        "ada@example..com",
        "ada@-example.com",
        "ada@example-.com",
        "ada@.example.com",
        "ada@example.com.",
        '"ada"@example.com',
        "ada@[127.0.0.1]",
        "ada(comment)@example.com",
        "ada@exa_mple.com",
        "a" * 65 + "@example.com",
        "ada@" + "b" * 64 + ".com",
        "ada@example.com\n",
        "ada@example.com\x00",
        "ada@ex\u0430mple.com",  # Cyrillic 'а'
        "\u212a@example.com",  # Kelvin sign: lower-cases to 'k', refused before that
    ],
)
def test_emails_outside_the_allow_list_are_refused(email: str) -> None:
    with pytest.raises(InvalidName) as caught:
        validate_email(email)
    assert caught.value.code == "invalid_name"


def test_an_email_over_254_characters_is_refused_saying_the_limit() -> None:
    email = "a@" + ".".join(["b" * 60] * 5)
    assert len(email) > EMAIL_MAX
    with pytest.raises(InvalidName, match=f"use at most {EMAIL_MAX}"):
        validate_email(email)


def test_a_non_ascii_email_says_which_character_and_where() -> None:
    with pytest.raises(InvalidName) as caught:
        validate_email("ada@ex\u0430mple.com")
    assert "(U+0430) at position 6" in caught.value.message
    assert "\u0430" not in caught.value.message
