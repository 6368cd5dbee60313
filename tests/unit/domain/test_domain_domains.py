"""The gate for custom domains: what a user may claim, in what canonical form, and why not."""

from __future__ import annotations

import pytest

from xae.domain.names import validate_domain
from xae.errors import InvalidName

BASE = "apps.example.net"


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("www.example.com", "www.example.com"),
        ("WWW.Example.COM", "www.example.com"),  # uppercase folds
        ("www.example.com.", "www.example.com"),  # the FQDN dot, as nginx drops it
        ("*.example.com", "*.example.com"),
        ("*.shop.example.com", "*.shop.example.com"),
        ("a-b.c-d.example", "a-b.c-d.example"),
        ("bücher.example", "xn--bcher-kva.example"),  # IDNA to punycode
        ("BÜCHER.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),  # already punycode
        ("ｗｗｗ。example.com", "www.example.com"),  # fullwidth letters and dot (UTS 46)
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),  # one script per label
        ("例え.jp", "xn--r8jz45g.jp"),  # Han with Hiragana is one script group
        ("x" * 63 + ".example.com", "x" * 63 + ".example.com"),
        ("example.com", "example.com"),  # a parent of the base domain is not under it
        ("2048.example.com", "2048.example.com"),
    ],
)
def test_valid_domains_come_back_canonical(given: str, canonical: str) -> None:
    assert validate_domain(given, BASE) == canonical


LONG = ".".join(["a" * 60] * 4) + ".example.com"


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("", "required"),
        ("com", "one label"),
        ("localhost", "one label"),
        # wildcards in the wrong place
        ("*.com", "too broad"),
        ("*", "'*' in the wrong place"),
        ("www.*.example.com", "'*' in the wrong place"),
        ("*www.example.com", "'*' in the wrong place"),
        ("*.*.example.com", "'*' in the wrong place"),
        ("www.example.*", "'*' in the wrong place"),
        # IP literals
        ("10.0.0.1", "IP address"),
        ("127.1", "IP address"),
        ("0x7f.1", "IP address"),
        ("::1", "IP address"),
        ("[::1]", "IP address"),
        ("[fe80::1%eth0]", "IP address"),
        ("www.example.123", "numeric label"),
        # lengths and labels
        ("a" * 64 + ".example.com", "64 characters"),
        (LONG, "use at most 253"),
        ("x" * 2000, "use at most 253"),
        ("-www.example.com", "starts or ends with a dash"),
        ("www-.example.com", "starts or ends with a dash"),
        ("ab--cd.example.com", "'--' at positions 3-4"),
        ("xn--zz.example.com", "not valid punycode"),
        ("www..example.com", "empty label"),
        (".example.com", "empty label"),
        ("www.example.com..", "empty label"),
        ("a_b.example.com", "'_'"),
        # look-alikes: a Cyrillic а among Latin letters, also given as punycode
        ("p\u0430ypal.com", "mixes scripts"),
        ("xn--pypal-4ve.com", "mixes scripts"),
        ("\u0430\u03b1.example.com", "mixes scripts"),  # Cyrillic and Greek
        ("pay\u00adpal.com", "invisible"),  # soft hyphen
        ("www\u200b.example.com", "invisible"),  # zero-width space
        # what would break a config line or a header
        ("www.example.com;", "';'"),
        ("www.example.com{", "'{'"),
        ("www.example.com}", "'}'"),
        ("www.example.com\r\nX-Evil: 1", "'\\r'"),
        ("www.example.com\n", "'\\n'"),
        ("www.example.com server_name evil", "' '"),
        ("www.example.com/path", "'/'"),
        ("www.example.com:8080", "has a port"),
        ("https://www.example.com/", "has a scheme"),
        ("www.exa$mple.com", "'$'"),
        ("www.example.com\x00", "'\\x00'"),
        # the platform's own names
        (BASE, "base domain"),
        ("shop." + BASE, "base domain"),
        ("*." + BASE, "base domain"),
        ("SHOP.APPS.EXAMPLE.NET.", "base domain"),
        ("*.example.net", "covers the platform's base domain"),
    ],
)
def test_invalid_domains_are_refused_saying_why(given: str, says: str) -> None:
    with pytest.raises(InvalidName) as caught:
        validate_domain(given, BASE)
    assert says in str(caught.value)


def test_a_refusal_never_echoes_raw_control_characters() -> None:
    with pytest.raises(InvalidName) as caught:
        validate_domain("evil.example.com\r\nSet-Cookie: x=1", BASE)
    assert "\r" not in str(caught.value) and "\n" not in str(caught.value)


def test_without_a_base_domain_names_are_only_checked_for_shape() -> None:
    assert validate_domain("shop." + BASE) == "shop." + BASE


@pytest.mark.parametrize(
    "given", ["WWW.Example.COM.", "*.example.com", "bücher.example", "例え.jp"]
)
def test_the_canonical_form_is_its_own_canonical_form_and_passes_the_routers_gate(
    given: str,
) -> None:
    from xae.router.validate import validate_host

    canonical = validate_domain(given, BASE)
    assert validate_domain(canonical, BASE) == canonical
    assert validate_host(canonical) == canonical
