"""RouteTable sends the router deltas (after one full apply) and rolls back what failed."""

from __future__ import annotations

import pytest
from tests.unit.fakes import FakeRouter

from xae.control.routes import RouteTable, release_name
from xae.errors import RouterFailure
from xae.router.base import Route


class FailingRouter(FakeRouter):
    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    def update(self, changed: list[Route], removed: list[str]) -> None:
        if self.fail:
            raise RouterFailure("refused")
        super().update(changed, removed)


def test_the_first_change_applies_the_whole_table_then_only_deltas() -> None:
    router = FakeRouter()
    table = RouteTable(router, "localhost")
    table.seed("old", ["10.0.0.9:80"])
    table.set("web", ["10.0.0.2:80"])
    assert router.served() == {"old": ["10.0.0.9:80"], "web": ["10.0.0.2:80"]}
    assert router.updates == []

    table.set("web", ["10.0.0.3:80"])
    table.set_many({"a": ["10.0.0.4:80"], "b": ["10.0.0.5:80"], "web": ["10.0.0.3:80"]})
    table.drop("old")
    assert [([r.app for r in c], r) for c, r in router.updates] == [
        (["web"], []),
        (["a", "b"], []),
        ([], ["old"]),
    ]
    assert router.served() == {
        "a": ["10.0.0.4:80"],
        "b": ["10.0.0.5:80"],
        "web": ["10.0.0.3:80"],
    }


def test_a_refused_update_leaves_the_table_as_the_router_serves_it() -> None:
    router = FailingRouter()
    table = RouteTable(router, "localhost")
    table.set("web", ["10.0.0.2:80"])
    router.fail = True
    with pytest.raises(RouterFailure):
        table.set("web", ["10.0.0.3:80"])
    with pytest.raises(RouterFailure):
        table.drop("web")
    with pytest.raises(RouterFailure):
        table.set_many({"web": [], "new": ["10.0.0.4:80"]})
    assert table.upstreams("web") == ["10.0.0.2:80"]
    assert table.apps() == ["web"]
    router.fail = False
    table.set("web", ["10.0.0.3:80"])
    assert router.served() == {"web": ["10.0.0.3:80"]}


def test_the_route_names_the_release_its_instances_run_for_the_access_log() -> None:
    assert release_name([8, 8]) == "v8"
    assert release_name([7, 8]) == ""  # mid-rollout: which one served is not known here
    assert release_name([]) == ""
    router = FakeRouter()
    table = RouteTable(router, "localhost")
    table.set("web", ["10.0.0.2:80"], release=release_name([3]))
    table.set("web", ["10.0.0.2:80", "10.0.0.3:80"], release=release_name([3, 3]))
    table.refresh("web")  # a settings change keeps the release
    [changed] = router.updates[-1][0]
    assert (changed.upstreams, changed.release) == (["10.0.0.2:80", "10.0.0.3:80"], "v3")
