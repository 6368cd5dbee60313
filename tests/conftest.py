"""Lanes for the slow tiers under `pytest -n 2 --dist loadgroup` (`make test LANES=2`).

Every test gets an xdist group, the unit of work one worker runs in order:
- the e2e tests on the docker plane form one lane, those on the Kubernetes plane another, so
  each worker starts one plane and keeps its tests' order (module fixtures share apps). The API
  fuzzer, on a plane of its own, joins the Kubernetes lane to balance the two: that lane mostly
  waits on the cluster, the docker lane mostly builds.
- each integration module is a unit of its own (its module fixtures build images once), and the
  units fill whichever worker is free first.
Without xdist (the unit tier's plain `-n auto` distribution ignores groups) the marks do nothing.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("plane") if callspec is not None else None
        if backend is not None:
            lane = f"e2e-{backend}"
        elif "fuzz_plane" in getattr(item, "fixturenames", ()):
            lane = "e2e-kubernetes"
        elif item.nodeid.startswith("tests/integration/"):
            lane = item.nodeid.split("::")[0]
        else:
            continue
        item.add_marker(pytest.mark.xdist_group(lane))
