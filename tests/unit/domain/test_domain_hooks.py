"""Webhook rules: URLs, events, the address policy (SSRF), signatures and retry timing."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pytest

from xae.domain.hooks import (
    address_refusal,
    parse_cidrs,
    parse_events,
    parse_hook_url,
    retry_delay,
    retryable,
    sign,
    verify,
)
from xae.domain.registries import PlatformAddresses
from xae.errors import InvalidInput

BLOCKED = parse_cidrs(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"])
HOST = PlatformAddresses(
    addresses=frozenset({ipaddress.ip_address("203.0.113.7")}),
    networks=(ipaddress.ip_network("172.30.0.0/16"),),
)


def refusal(address: str, allowed: list[str] | None = None) -> str | None:
    return address_refusal(
        ipaddress.ip_address(address),
        blocked=BLOCKED,
        allowed=parse_cidrs(allowed or []),
        platform=HOST,
    )


def test_the_signature_is_githubs_hmac_sha256_of_the_body() -> None:
    body = b'{"event":"build.succeeded"}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign("s3cret", body) == f"sha256={expected}"
    assert verify("s3cret", body, f"sha256={expected}")
    assert not verify("other", body, f"sha256={expected}")
    assert not verify("s3cret", body + b" ", f"sha256={expected}")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "must start with http:// or https://"),
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("https://user:pw@example.com/", "may not carry credentials"),
        ("https:///path", "names no host"),
        ("https://example.com/a b", "spaces or control characters"),
        ("https://example.com:99999/", "not valid"),
        ("https://example.com/" + "a" * 2100, "at most 2048"),
    ],
)
def test_a_hook_url_that_is_not_plain_http_is_refused_saying_why(url: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_hook_url(url)


def test_a_hook_url_is_split_into_what_a_delivery_connects_to() -> None:
    target = parse_hook_url("https://Hooks.Example.com/deploys?team=a")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "hooks.example.com",
        443,
        "/deploys?team=a",
    )
    assert parse_hook_url("http://[2001:db8::1]:8080").port == 8080


def test_events_are_checked_and_ordered() -> None:
    assert parse_events(["deploy", " Build "]) == ["build", "deploy"]
    with pytest.raises(InvalidInput, match="unknown hook event 'push'"):
        parse_events(["build", "push"])
    with pytest.raises(InvalidInput, match="at least one event"):
        parse_events([])


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),  # the API itself
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("0.0.0.0", "unspecified"),
        ("203.0.113.7", "an address of this machine"),
        ("172.30.0.5", "internal networks"),  # a container bridge: add-ons
        ("10.1.2.3", "private"),
        ("192.168.1.10", "private"),
        ("fd00::1", "private"),
    ],
)
def test_a_hook_may_not_reach_inside_the_platform(address: str, why: str) -> None:
    problem = refusal(address)
    assert problem is not None and why in problem


def test_public_addresses_are_allowed_and_an_operator_may_allow_a_range() -> None:
    assert refusal("1.1.1.1") is None
    assert refusal("2606:4700::1111") is None
    assert refusal("127.0.0.2", allowed=["127.0.0.2/32"]) is None
    assert refusal("127.0.0.1", allowed=["127.0.0.2/32"]) is not None


def test_failed_deliveries_back_off_and_only_some_answers_are_retried() -> None:
    assert [retry_delay(n, 2.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert retry_delay(30, 2.0) == 3600.0
    assert retryable(None) and retryable(500) and retryable(503) and retryable(429)
    assert not retryable(404) and not retryable(400) and not retryable(410)
