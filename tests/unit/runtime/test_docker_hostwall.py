"""The app networks' host firewall, as rules: what passes and what is refused."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from xae.errors import RuntimeFailure
from xae.runtime.docker.hostwall import HostWall, bridge_of


def test_replies_and_the_routers_port_pass_and_everything_else_is_refused() -> None:
    wall = HostWall.for_plane("e2e1", [8080, 8080, 443])
    assert wall.restore_script().splitlines() == [
        "*filter",
        f":{wall.chain} - [0:0]",
        f"-A {wall.chain} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        f"-A {wall.chain} -p tcp -m tcp --dport 443 -j RETURN",
        f"-A {wall.chain} -p tcp -m tcp --dport 8080 -j RETURN",
        f"-A {wall.chain} -j REJECT --reject-with icmp-admin-prohibited",
        "COMMIT",
    ]


def test_each_plane_has_its_own_chain_with_a_valid_name() -> None:
    one, two = HostWall.for_plane("default", [8080]), HostWall.for_plane("e2e1", [8080])
    assert one.chain != two.chain
    assert one.chain.startswith("XAEA-IN-") and len(one.chain) <= 28  # iptables' limit


def test_the_bridge_is_the_networks_option_or_derived_from_its_id() -> None:
    assert bridge_of("0123456789abcdef", {}) == "br-0123456789ab"
    assert bridge_of("0123", {"com.docker.network.bridge.name": "xaeb-1"}) == "xaeb-1"
    with pytest.raises(RuntimeFailure):
        bridge_of("0", {"com.docker.network.bridge.name": "-j ACCEPT; x"})


def test_a_failing_iptables_is_an_error_that_says_what_failed() -> None:
    def refuse(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, "", "iptables: Permission denied")

    wall = HostWall.for_plane("p", [8080], run=refuse)
    with pytest.raises(RuntimeFailure, match="could not install the app network firewall"):
        wall.install_chain()
    with pytest.raises(RuntimeFailure, match="could not fence br-x off the host"):
        wall.guard("br-x")
