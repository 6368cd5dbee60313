"""Which registries an image deploy may make the platform pull from: never one inside it
(loopback, link-local, unspecified, this machine, its internal networks) unless allow-listed.
Names are resolved through an injected resolver, so no test touches the network."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import pytest

from xae.domain.registries import (
    PlatformAddresses,
    check_registry,
    is_allow_listed,
    normalise_allow_list,
)
from xae.errors import InvalidInput, RegistryNotAllowed

PLATFORM = PlatformAddresses(
    addresses=frozenset(
        ipaddress.ip_address(a) for a in ("192.0.2.2", "172.17.0.1", "10.88.0.1", "fd00::2")
    ),
    networks=(ipaddress.ip_network("172.18.0.0/16"), ipaddress.ip_network("10.88.0.0/16")),
)
DNS = {
    "localhost": ["127.0.0.1", "::1"],
    "sneaky.example": ["127.0.0.2"],
    "half.example": ["203.0.113.9", "169.254.169.254"],
    "v6.example": ["fe80::1%eth0"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "me.example": ["192.0.2.2"],
    "addon.example": ["172.18.0.5"],
    "registry.example.com": ["203.0.113.10"],
    "empty.example": [],
}


def resolve(host: str) -> Iterable[str]:
    if host not in DNS:
        raise OSError(f"{host}: Name or service not known")
    return DNS[host]


def check(registry: str, allowed: Iterable[str] = ()) -> None:
    check_registry(
        registry, f"{registry}/x:v1", allowed=allowed, resolve=resolve, platform=lambda: PLATFORM
    )


@pytest.mark.parametrize(
    ("registry", "says"),
    [
        ("127.0.0.1:8080", "127.0.0.1 is a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("localhost", "localhost resolves to a loopback address"),
        ("localhost:5000", "a loopback address"),
        ("sneaky.example:443", "sneaky.example resolves to a loopback address"),
        ("mapped.example", "a loopback address"),
        ("169.254.169.254", "a link-local address"),
        ("169.254.0.1:80", "a link-local address"),
        ("half.example", "a link-local address"),  # one bad answer is enough
        ("v6.example", "a link-local address"),
        ("0.0.0.0:8080", "the unspecified address"),
        ("0.1.2.3", "the unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("192.0.2.2:5000", "an address of this machine"),
        ("me.example", "an address of this machine"),
        ("172.17.0.1:2375", "an address of this machine"),  # the Docker bridge's gateway
        ("10.88.0.1:6443", "an address of this machine"),
        ("172.18.0.5:5432", "internal networks"),  # an add-on on a container network
        ("addon.example", "internal networks"),
        ("10.88.3.4", "internal networks"),  # a pod
    ],
)
def test_registries_inside_the_platform_are_refused_saying_what_to_do(
    registry: str, says: str
) -> None:
    with pytest.raises(RegistryNotAllowed) as raised:
        check(registry)
    error = raised.value
    assert (error.code, error.status) == ("registry_not_allowed", 403)
    assert says in error.message
    assert f"XAE_ALLOWED_REGISTRIES={registry}" in error.message
    assert "push the image to a registry outside the platform" in error.message


def test_a_resolved_name_is_refused_without_telling_its_addresses() -> None:
    with pytest.raises(RegistryNotAllowed) as raised:
        check("addon.example")
    assert "172.18" not in raised.value.message


@pytest.mark.parametrize("registry", ["nowhere.example", "empty.example:5000"])
def test_a_name_that_does_not_resolve_is_refused_as_unknowable(registry: str) -> None:
    with pytest.raises(RegistryNotAllowed, match="resolve"):
        check(registry)


@pytest.mark.parametrize(
    "registry",
    [
        "registry.example.com",
        "registry.example.com:5000",
        "203.0.113.7:5000",
        "8.8.8.8",
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
    ],
)
def test_registries_outside_the_platform_pass(registry: str) -> None:
    check(registry)


def test_docker_hub_is_neither_resolved_nor_compared_with_the_platform() -> None:
    def fail(_: str) -> Iterable[str]:
        raise AssertionError("resolved")

    def no_platform() -> PlatformAddresses:
        raise AssertionError("looked up")

    check_registry("docker.io", "nginx:1", allowed=(), resolve=fail, platform=no_platform)


@pytest.mark.parametrize(
    ("registry", "allowed"),
    [
        ("127.0.0.1:5001", ["127.0.0.1:5001"]),
        ("127.0.0.1:5001", ["127.0.0.1"]),  # a host without a port allows each of its ports
        ("localhost:5000", ["localhost"]),
        ("LOCALHOST:5000", ["localhost:5000"]),
        ("172.18.0.5:5000", ["other:1", "172.18.0.5:5000"]),
    ],
)
def test_an_operator_may_allow_a_registry_inside_the_platform(
    registry: str, allowed: list[str]
) -> None:
    check(registry, normalise_allow_list(allowed))


@pytest.mark.parametrize(
    ("registry", "allowed"),
    [
        ("127.0.0.1:5002", ["127.0.0.1:5001"]),  # another port of an allowed host:port
        ("localhost:5001", ["127.0.0.1:5001"]),  # the entry is the name as written
        ("127.0.0.10:5001", ["127.0.0.1"]),
    ],
)
def test_the_allow_list_allows_exactly_what_it_names(registry: str, allowed: list[str]) -> None:
    assert not is_allow_listed(registry, normalise_allow_list(allowed))
    with pytest.raises(RegistryNotAllowed):
        check(registry, normalise_allow_list(allowed))


def test_allow_list_entries_are_normalised_and_checked() -> None:
    assert normalise_allow_list([" Reg.Internal:5000 ", "", "10.0.0.1"]) == (
        "reg.internal:5000",
        "10.0.0.1",
    )
    for bad in ("http://reg.internal", "reg.internal/path", "reg internal", "-x"):
        with pytest.raises(InvalidInput, match="host or host:port"):
            normalise_allow_list([bad])
