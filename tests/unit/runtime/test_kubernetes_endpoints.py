"""Which endpoints the router gets: ready ones, never terminating ones."""

from __future__ import annotations

from typing import Any

from lightkube import codecs
from lightkube.resources.discovery_v1 import EndpointSlice

from xae.runtime.kubernetes.cache import ready_addresses


def endpoint_slice(*endpoints: tuple[str, bool | None], port: int = 5000) -> EndpointSlice:
    obj: Any = codecs.from_dict(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "shop-abc", "namespace": "xae-ann"},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [
                {
                    "addresses": [ip],
                    **({"conditions": {"ready": ready}} if ready is not None else {}),
                }
                for ip, ready in endpoints
            ],
        }
    )
    assert isinstance(obj, EndpointSlice)
    return obj


def test_only_ready_endpoints_are_routed() -> None:
    s = endpoint_slice(("10.88.0.5", True), ("10.88.0.6", False), ("10.88.0.7", None))
    # No condition means ready (the API's rule); a terminating pod is not ready.
    assert ready_addresses([s]) == ["10.88.0.5:5000", "10.88.0.7:5000"]


def test_slices_of_one_service_are_merged() -> None:
    a = endpoint_slice(("10.88.0.5", True))
    b = endpoint_slice(("10.88.0.9", True), ("10.88.0.5", True))
    assert ready_addresses([a, b]) == ["10.88.0.5:5000", "10.88.0.9:5000"]


def test_a_split_releases_slices_are_keyed_by_app_and_release() -> None:
    from xae.runtime.kubernetes.cache import split_key
    from xae.runtime.kubernetes.manifests import RELEASE

    main = endpoint_slice(("10.88.0.5", True))
    other = endpoint_slice(("10.88.0.6", True))
    assert other.metadata is not None
    other.metadata.labels = {RELEASE: "7"}
    assert split_key("shop", main) == "shop"
    assert split_key("shop", other) == "shop/v7"
