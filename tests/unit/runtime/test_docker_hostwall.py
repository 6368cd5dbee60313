"""The app networks' host firewall, as rules: what passes and what is refused."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from xae.errors import RuntimeFailure
from xae.runtime.docker.hostwall import HostWall, bridge_of


def test_replies_and_the_routers_port_pass_and_everything_else_is_refused() -> None:
    wall = HostWall.for_plane("e2e1", [8080, 8080, 443], blocked=["10.0.0.0/8", "169.254.1.1/16"])
    fw = wall.forward_chain
    assert wall.restore_script().splitlines() == [
        "*filter",
        f":{wall.chain} - [0:0]",
        f"-A {wall.chain} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        f"-A {wall.chain} -p tcp -m tcp --dport 443 -j RETURN",
        f"-A {wall.chain} -p tcp -m tcp --dport 8080 -j RETURN",
        f"-A {wall.chain} -m conntrack --ctstate INVALID -j DROP",
        f"-A {wall.chain} -j REJECT --reject-with icmp-admin-prohibited",
        f":{fw} - [0:0]",
        f"-A {fw} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        f"-A {fw} -p udp -m udp --dport 53 -j RETURN",
        f"-A {fw} -p tcp -m tcp --dport 53 -j RETURN",
        f"-A {fw} -d 10.0.0.0/8 -j REJECT --reject-with icmp-admin-prohibited",
        f"-A {fw} -d 169.254.0.0/16 -j REJECT --reject-with icmp-admin-prohibited",
        "COMMIT",
    ]


def test_only_traffic_leaving_the_apps_network_is_checked_on_its_way_out() -> None:
    wall = HostWall.for_plane("e2e1", [8080])
    assert wall.jumps("br-x") == [
        ["INPUT", "-i", "br-x", "-j", wall.chain],
        ["DOCKER-USER", "-i", "br-x", "!", "-o", "br-x", "-j", wall.forward_chain],
    ]


def test_a_blocked_range_that_is_not_an_address_range_is_refused() -> None:
    with pytest.raises(ValueError):
        HostWall.for_plane("p", [8080], blocked=["10.0.0.0/8 -j ACCEPT"])


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


def test_removing_the_wall_deletes_only_the_planes_chains() -> None:
    commands: list[list[str]] = []

    def record(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    wall = HostWall.for_plane("p", [8080], run=record)
    wall.remove()
    assert [c[2:] for c in commands] == [
        ["-F", wall.chain],
        ["-X", wall.chain],
        ["-F", wall.forward_chain],
        ["-X", wall.forward_chain],
    ]
