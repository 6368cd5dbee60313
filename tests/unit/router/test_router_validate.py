"""The router's validation gate and nginx message trimming."""

from __future__ import annotations

import pytest

from xae.errors import InvalidInput
from xae.router.base import Route
from xae.router.nginx import MESSAGE_MAX, trim_nginx_output
from xae.router.render import _quote
from xae.router.validate import validate_listen_host, validate_routes, validate_upstream


def test_upstreams_are_canonicalized_and_deduplicated() -> None:
    assert validate_upstream(" 172.18.0.5:5000 ") == "172.18.0.5:5000"
    assert validate_upstream("[FD00::0005]:80") == "[fd00::5]:80"
    (route,) = validate_routes([Route("a", ["a.localhost"], ["10.0.0.1:1", "10.0.0.1:1"])])
    assert route.upstreams == ["10.0.0.1:1"]


def test_a_route_needs_a_host() -> None:
    with pytest.raises(InvalidInput, match="no host"):
        validate_routes([Route("a", [], [])])


def test_listen_host_must_be_an_ip() -> None:
    assert validate_listen_host("::") == "[::]"
    with pytest.raises(InvalidInput, match="XAE_ROUTER_HOST"):
        validate_listen_host("localhost")


def test_strings_rendered_into_nginx_are_escaped_and_cannot_carry_variables() -> None:
    assert _quote('say "hi" \\ now') == '"say \\"hi\\" \\\\ now"'
    assert _quote("at ${xae_safe_host}") == '"at ${xae_safe_host}"'
    with pytest.raises(ValueError):
        _quote("costs $5")


def test_nginx_output_is_trimmed_to_the_error() -> None:
    output = (
        'nginx: [emerg] unknown directive "bogus" in /srv/router/.nginx.conf.1.next:12\n'
        "nginx: configuration file /srv/router/.nginx.conf.1.next test failed\n"
    )
    assert trim_nginx_output(output) == (
        '[emerg] unknown directive "bogus" in /srv/router/.nginx.conf.1.next:12'
    )
    assert len(trim_nginx_output("[emerg] " + "x" * 5000)) == MESSAGE_MAX
