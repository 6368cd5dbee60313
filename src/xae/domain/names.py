"""The one validation gate for names that reach commands, paths, labels and hostnames.

An app name becomes a DNS label (`<app>.<base domain>`), a Docker network and container name, a
label value and a directory name, so it is checked here once and nowhere else is trusted to.
"""

from __future__ import annotations

import re

from xae.domain.policy import PROCESS_TYPE_PATTERN
from xae.errors import InvalidName

APP_NAME_MAX = 30
_APP_NAME = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
_BRANCH_PART = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_PROCESS_TYPE = re.compile(PROCESS_TYPE_PATTERN)
_CONFIG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


PREVIEW_SEPARATOR = "--"
"""Between an app's name and its branch's in a preview app's name (`shop--feature-x`): never
in a name a user gives (`validate_new_app_name`), so previews and apps never collide."""


def validate_app_name(name: str) -> str:
    """Return `name` if it is a valid app name, else raise `InvalidName` saying why.

    A preview app's name (`app--branch`, `xae.domain.previews`) is valid too: one `--`
    between two parts that are app names themselves, not at positions 3-4 (punycode's)."""
    parent, sep, branch = name.partition(PREVIEW_SEPARATOR)
    if (
        sep
        and name[2:4] != PREVIEW_SEPARATOR
        and len(name) <= APP_NAME_MAX
        and _APP_NAME.fullmatch(parent)
        and _BRANCH_PART.fullmatch(branch)
        and PREVIEW_SEPARATOR not in parent + branch
    ):
        return name
    return _dns_label("app name", "an app name", name, APP_NAME_MAX, " (it becomes a DNS label)")


def validate_new_app_name(name: str) -> str:
    """`validate_app_name` for a name a user picks: `--` is kept for preview apps."""
    if PREVIEW_SEPARATOR in name:
        raise InvalidName(
            f"app name {ascii(name[:40])} is not valid: use lowercase letters, digits and single "
            "dashes, starting with a letter and not ending with a dash ('--' names preview apps)"
        )
    return validate_app_name(name)


def _dns_label(kind: str, a_kind: str, name: str, most: int, why: str = "") -> str:
    """`name` if it is a DNS label of at most `most` characters without `--`."""
    if not name:
        raise InvalidName(f"{a_kind} is required")
    if len(name) > most:
        raise InvalidName(
            f"{kind} {ascii(name[:40])} is {len(name)} characters long; use at most {most}"
        )
    if not _APP_NAME.fullmatch(name) or "--" in name:
        raise InvalidName(
            f"{kind} {ascii(name)} is not valid: use lowercase letters, digits and single "
            f"dashes, starting with a letter and not ending with a dash{why}"
        )
    return name


def validate_process_type(name: str) -> str:
    if not _PROCESS_TYPE.fullmatch(name):
        raise InvalidName(
            f"process type {ascii(name[:40])} is not valid: use lowercase letters, digits, "
            "'-' or '_', starting with a letter, at most 30 characters"
        )
    return name


def validate_config_key(key: str) -> str:
    if not _CONFIG_KEY.fullmatch(key):
        raise InvalidName(
            f"config key {ascii(key[:40])} is not valid: use letters, digits and '_', "
            "not starting with a digit"
        )
    if key.startswith("XAE_") or key == "PORT":
        raise InvalidName(f"config key {ascii(key)} is reserved by xae")
    return key


TEAM_NAME_MAX = APP_NAME_MAX
EMAIL_MAX = 254
"""The longest address SMTP carries (RFC 5321's path limit less its angle brackets)."""
_EMAIL_LOCAL_MAX = 64
_EMAIL_LOCAL = re.compile(r"[a-z0-9]+(?:[._+-][a-z0-9]+)*")
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_EMAIL_RULE = (
    "use ASCII letters, digits and single . _ + - inside the part before the '@', and a host "
    "name of letters, digits, dashes and dots after it, e.g. ada@example.com"
)


def validate_team_name(name: str) -> str:
    """Return `name` if it is a valid team name (the rules of an app name: a team's name may
    become a label, a namespace or a directory as an app's does), else raise `InvalidName`."""
    return _dns_label("team name", "a team name", name, TEAM_NAME_MAX)


def validate_email(email: str) -> str:
    """Return `email` lower-cased if it is a user email xae accepts, else raise `InvalidName`.

    A conservative subset of RFC 5321, ASCII only: no quoted local parts, comments, IP
    literals or internationalised names, which are where look-alikes and parser disagreements
    live. ASCII is checked before lower-casing, since `str.lower` maps some non-ASCII letters
    onto ASCII ones (the Kelvin sign K becomes `k`). A one-label host (`dev@localhost`) is
    accepted for installations without DNS."""
    if not email:
        raise InvalidName("a user email is required")
    if len(email) > EMAIL_MAX:
        raise InvalidName(
            f"user email {ascii(email[:40])}… is {len(email)} characters long; "
            f"use at most {EMAIL_MAX}"
        )
    if not email.isascii():
        position, char = next((i, c) for i, c in enumerate(email) if not c.isascii())
        raise InvalidName(
            f"user email {ascii(email[:80])} has a non-ASCII character (U+{ord(char):04X}) at "
            f"position {position}: {_EMAIL_RULE}"
        )
    lowered = email.lower()
    local, at, host = lowered.partition("@")
    if (
        not at
        or len(local) > _EMAIL_LOCAL_MAX
        or not _EMAIL_LOCAL.fullmatch(local)
        or not all(_HOST_LABEL.fullmatch(label) for label in host.split("."))
    ):
        raise InvalidName(f"user email {ascii(email[:80])} is not valid: {_EMAIL_RULE}")
    return lowered


_PLAIN_USER = re.compile(r"[a-z][a-z0-9_-]{0,63}")


def validate_user_name(name: str) -> str:
    """A user logs in with an e-mail address (`validate_email`, lower-cased), or a plain name
    such as the bootstrap `admin` (lower-case letters, digits, '-' and '_', at most 64)."""
    if name and "@" not in name and name.isascii() and _PLAIN_USER.fullmatch(name):
        return name
    if "@" in name:
        return validate_email(name)
    raise InvalidName(
        f"user {ascii(name[:60])} is not valid: use an e-mail address, e.g. ada@example.com, "
        "or a plain name of lower-case letters, digits, '-' and '_'"
    )


# -- custom domains -------------------------------------------------------------------------

DOMAIN_MAX = 253
"""The longest name DNS carries (in its ASCII form, without the trailing dot)."""
DOMAIN_LABEL_MAX = 63
_DOMAIN_INPUT_MAX = 1024
"""Input longer than this is refused before any work is done on it."""
_ASCII_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DOMAIN_RULE = (
    "a domain is dot-separated labels of letters, digits and dashes, e.g. www.example.com "
    "(or *.example.com for every name under example.com)"
)
_SCRIPT_GROUPS = (
    frozenset({"CJK", "HIRAGANA", "KATAKANA"}),
    frozenset({"CJK", "HANGUL"}),
    frozenset({"CJK", "BOPOMOFO"}),
)
"""Scripts that are written together (Japanese, Korean, Chinese with its phonetic marks):
each group counts as one script."""


def validate_domain(text: str, base_domain: str | None = None) -> str:
    """Return `text` as the canonical form of a custom domain, else raise `InvalidName`.

    The canonical form is what the store keeps and the router serves: lowercase ASCII, each
    internationalised label in its punycode (`xn--`) form after UTS 46 mapping (case folding,
    width folding, NFC), without a trailing dot (nginx drops it from a request's Host too).

    Refused, each with what to do instead:
    - anything that is not a host name: spaces, control or invisible characters, `;`, `{`,
      `/`, `:`, `_`... (the name reaches the router's config, so no such character may pass);
      a scheme, a port or a path get their own hint;
    - IP literals (`10.0.0.1`, `[::1]`, `::1`, and what `inet_aton` reads as one, `127.1`)
      and names whose last label is all digits; one-label names (a TLD);
    - a `*` anywhere but as the whole leftmost label followed by at least two labels
      (`*.example.com`, not `*.com`, `www.*.example.com` nor `*www.example.com`);
    - labels longer than 63 or names longer than 253 characters in ASCII form, labels that
      start or end with a dash or have `--` at positions 3-4 without being a valid `xn--`
      label;
    - labels that mix scripts, the usual look-alike trick (a Cyrillic `а` in `pаypal`). The
      rule, per label, on its Unicode form (an `xn--` label given as such is decoded first,
      so punycode does not bypass it): the script of each non-ASCII letter is read from its
      Unicode character name (`CYRILLIC SMALL LETTER A` is Cyrillic); all of them must be one
      script (Han with Hiragana/Katakana, Hangul or Bopomofo count as one); and when that
      script is not Latin, the label may have no ASCII letter. `bücher` (Latin and Latin),
      `пример` and `例え` pass; `pаypal` and `xn--pypal-4ve` do not. Whole-script look-alikes
      (a label all in Cyrillic that reads like a Latin word) are not caught by this rule;
    - with `base_domain`: the base domain itself, any name under it (it would shadow the
      `<app>.<base domain>` names of other apps), and a wildcard that covers it.
    """
    import idna  # the IDNA tables are large: loaded only where a domain is checked

    if not text:
        raise InvalidName(f"a domain is required: {_DOMAIN_RULE}")
    shown = ascii(text[:80])
    if len(text) > _DOMAIN_INPUT_MAX:
        raise InvalidName(f"domain {shown}… is {len(text)} characters long; use at most 253")
    _refuse_non_host_characters(text, shown)
    name = text[:-1] if text.endswith(".") else text
    wildcard = name.startswith("*.")
    if wildcard:
        name = name[2:]
    if "*" in name:
        raise InvalidName(
            f"domain {shown} has a '*' in the wrong place: a wildcard is the whole leftmost "
            "label, followed by at least two labels, e.g. *.example.com"
        )
    _refuse_ip_literal(name, shown)
    try:
        mapped = idna.uts46_remap(name, std3_rules=True, transitional=False)
    except idna.IDNAError as e:
        raise InvalidName(f"domain {shown} is not valid ({_idna_reason(e)}): {_DOMAIN_RULE}") from e
    labels = mapped.split(".")
    if any(not label for label in labels):
        raise InvalidName(
            f"domain {shown} has an empty label (two dots in a row, or a dot at "
            f"the start): {_DOMAIN_RULE}"
        )
    if wildcard and len(labels) < 2:
        raise InvalidName(
            f"wildcard {shown} is too broad: use at least two labels after '*.', e.g. *.example.com"
        )
    if len(labels) < 2:
        raise InvalidName(
            f"domain {shown} has one label only: use a full name such as www.example.com"
        )
    ascii_labels = [_ascii_label(label, shown) for label in labels]
    if ascii_labels[-1].isdigit():
        raise InvalidName(
            f"domain {shown} ends in a numeric label, like an IP address: "
            "use a name, e.g. www.example.com"
        )
    canonical = ".".join((["*"] if wildcard else []) + ascii_labels)
    if len(canonical) > DOMAIN_MAX:
        raise InvalidName(
            f"domain {shown} is {len(canonical)} characters long in ASCII form; "
            f"use at most {DOMAIN_MAX}"
        )
    if base_domain:
        _refuse_under_base(canonical, base_domain.lower().rstrip("."), shown)
    return canonical


def _refuse_non_host_characters(text: str, shown: str) -> None:
    import unicodedata

    lowered = text.lower()
    for prefix in ("http://", "https://"):
        if lowered.startswith(prefix):
            raise InvalidName(
                f"domain {shown} has a scheme: give the name alone, e.g. "
                f"{ascii(text[len(prefix) :].split('/')[0][:60])}"
            )
    for position, char in enumerate(text):
        if char.isascii():
            if char.isalnum() or char in ".-*":
                continue
            if char == "[" or (char == ":" and text.count(":") > 1):
                raise InvalidName(
                    f"domain {shown} is an IP address: a custom domain is a name; point its "
                    "DNS at the router instead"
                )
            if char == ":":
                raise InvalidName(
                    f"domain {shown} has a port: give the name alone (the router serves it on "
                    "its own ports)"
                )
            raise InvalidName(
                f"domain {shown} has {ascii(char)} at position {position}: {_DOMAIN_RULE}"
            )
        if unicodedata.category(char)[0] in "CZ":
            raise InvalidName(
                f"domain {shown} has an invisible, space or control character "
                f"(U+{ord(char):04X}) at position {position}: {_DOMAIN_RULE}"
            )


def _refuse_ip_literal(name: str, shown: str) -> None:
    import ipaddress
    import socket

    literal = False
    try:
        ipaddress.ip_address(name)
        literal = True
    except ValueError:
        if name.isascii():
            try:
                socket.inet_aton(name)
                literal = True
            except OSError:
                pass
    if literal:
        raise InvalidName(
            f"domain {shown} is an IP address: a custom domain is a name; point "
            "its DNS at the router instead"
        )


def _idna_reason(error: Exception) -> str:
    return ascii(str(error)[:120])[1:-1]


def _ascii_label(label: str, shown: str) -> str:
    """The ASCII form of one (UTS 46 mapped) label, checked."""
    import idna

    if label.isascii():
        if label.startswith("xn--"):
            try:
                unicode = idna.ulabel(label)
            except (idna.IDNAError, UnicodeError) as e:
                raise InvalidName(
                    f"domain {shown} has label {ascii(label[:70])}, which is not valid punycode "
                    f"({_idna_reason(e)}): write the name in its own script instead"
                ) from e
            _one_script(unicode, shown)
        elif label[2:4] == "--":
            raise InvalidName(
                f"domain {shown} has label {ascii(label[:70])} with '--' at positions 3-4, "
                "which DNS reserves for punycode ('xn--'): change the label"
            )
        result = label
    else:
        _one_script(label, shown)
        try:
            result = idna.alabel(label).decode("ascii")
        except (idna.IDNAError, UnicodeError) as e:
            raise InvalidName(
                f"domain {shown} has label {ascii(label[:70])}, which is not a valid "
                f"internationalised name ({_idna_reason(e)}): {_DOMAIN_RULE}"
            ) from e
    if len(result) > DOMAIN_LABEL_MAX:
        raise InvalidName(
            f"domain {shown} has a label of {len(result)} characters (in ASCII form); use at "
            f"most {DOMAIN_LABEL_MAX} per label"
        )
    if not _ASCII_LABEL.fullmatch(result):
        raise InvalidName(
            f"domain {shown} has label {ascii(label[:70])}, which starts or ends with a dash "
            f"or has other characters: {_DOMAIN_RULE}"
        )
    return result


def _one_script(label: str, shown: str) -> None:
    """Refuse a label whose non-ASCII letters are of several scripts, or of a non-Latin one
    beside ASCII letters (see `validate_domain`)."""
    import unicodedata

    scripts: set[str] = set()
    has_ascii_letter = False
    for char in label:
        if char.isascii():
            has_ascii_letter |= char.isalpha()
        elif unicodedata.category(char).startswith("L"):
            scripts.add(unicodedata.name(char, "UNKNOWN").split(" ")[0].split("-")[0])
    if not scripts:
        return
    one = len(scripts) == 1 or any(scripts <= group for group in _SCRIPT_GROUPS)
    if not one or (has_ascii_letter and scripts != {"LATIN"}):
        names = sorted({"LATIN"} | scripts if has_ascii_letter else scripts)
        raise InvalidName(
            f"domain {shown} has label {ascii(label[:70])}, which mixes scripts "
            f"({', '.join(s.title() for s in names)}), the way look-alike names are made: "
            "write each label in one script"
        )


def _refuse_under_base(canonical: str, base: str, shown: str) -> None:
    bare = canonical[2:] if canonical.startswith("*.") else canonical
    if bare == base or bare.endswith("." + base):
        raise InvalidName(
            f"domain {shown} is under the platform's base domain {base!r}, whose names are "
            f"apps' own (<app>.{base}): every app already has one; add a domain of your own"
        )
    if canonical.startswith("*.") and base.endswith("." + bare):
        raise InvalidName(
            f"wildcard {shown} covers the platform's base domain {base!r} and would catch "
            "names meant for its apps: use a narrower wildcard or exact names"
        )
