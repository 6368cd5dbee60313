"""The build jail's logic without the system: firewall rules, resolvers, limits, the PIDs
cgroup on a stand-in cgroupfs, the deadline. The real engine, iptables and cgroups are
exercised in tests/integration/builder/test_builder_jail.py."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from xae.builder.buildcgroup import BuildCgroup
from xae.builder.buildnet import (
    BuildNetwork,
    dns_servers,
    install_firewall,
    restore_script,
)
from xae.builder.jail import BuildLimits, Deadline
from xae.config import Settings
from xae.errors import BuildFailed


class Iptables:
    """Stands in for `subprocess.run`: `-C` answers from `present`, the rest succeeds."""

    def __init__(self, present: bool) -> None:
        self.present = present
        self.commands: list[list[str]] = []
        self.stdin: list[str] = []

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        if kwargs.get("input") is not None:
            self.stdin.append(kwargs["input"])
        code = 1 if "-C" in command and not self.present else 0
        return subprocess.CompletedProcess(command, code, "", "")


NET = BuildNetwork.for_plane("default")


def test_names_fit_the_kernel_and_never_collide_with_an_app_network() -> None:
    assert len(NET.bridge) <= 15
    assert max(len(NET.input_chain), len(NET.forward_chain)) <= 28
    assert NET.name == "xae-default.builds"  # app networks are xae-<plane>-<dns label>
    assert BuildNetwork.for_plane("other").bridge != NET.bridge


def test_dns_is_allowed_before_the_blocked_ranges_and_the_host_refuses_the_rest() -> None:
    script = restore_script(NET, ["10.255.255.53"], ["10.0.0.0/8", "172.16.0.0/12"])
    lines = script.splitlines()
    assert lines[0] == "*filter" and lines[-1] == "COMMIT"
    # declaring the chains makes iptables-restore --noflush rewrite them whole, atomically
    assert f":{NET.input_chain} - [0:0]" in lines and f":{NET.forward_chain} - [0:0]" in lines
    forward = [line for line in lines if line.startswith(f"-A {NET.forward_chain}")]
    assert forward == [
        f"-A {NET.forward_chain} -d 10.255.255.53/32 -p udp -m udp --dport 53 -j RETURN",
        f"-A {NET.forward_chain} -d 10.255.255.53/32 -p tcp -m tcp --dport 53 -j RETURN",
        f"-A {NET.forward_chain} -d 10.0.0.0/8 -j REJECT --reject-with icmp-admin-prohibited",
        f"-A {NET.forward_chain} -d 172.16.0.0/12 -j REJECT --reject-with icmp-admin-prohibited",
    ]
    host = [line for line in lines if line.startswith(f"-A {NET.input_chain}")]
    assert host[-1] == f"-A {NET.input_chain} -j REJECT --reject-with icmp-admin-prohibited"
    assert all("--dport 53 -j ACCEPT" in line for line in host[:-1])


def test_malformed_addresses_never_reach_a_command() -> None:
    with pytest.raises(ValueError):
        restore_script(NET, ["10.0.0.1; reboot"], [])
    with pytest.raises(ValueError):
        restore_script(NET, [], ["10.0.0.0/8 -j ACCEPT"])


def test_installing_twice_inserts_each_jump_once() -> None:
    missing = Iptables(present=False)
    install_firewall(NET, [], ["10.0.0.0/8"], missing)
    inserts = [c for c in missing.commands if "-I" in c]
    assert inserts == [
        ["iptables", "--wait", "-I", "INPUT", "1", "-i", NET.bridge, "-j", NET.input_chain],
        ["iptables", "--wait", "-I", "DOCKER-USER", "1", "-i", NET.bridge, "-j", NET.forward_chain],
    ]
    assert missing.commands[0] == ["iptables-restore", "--noflush", "--wait"]

    present = Iptables(present=True)
    install_firewall(NET, [], ["10.0.0.0/8"], present)
    assert not [c for c in present.commands if "-I" in c]


def test_a_failing_iptables_is_a_build_failure_that_says_so() -> None:
    def failing(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 2, "", "iptables: No chain by that name.")

    with pytest.raises(BuildFailed, match="No chain by that name"):
        install_firewall(NET, [], [], failing)

    def missing(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(command[0])

    with pytest.raises(BuildFailed, match="iptables is not installed"):
        install_firewall(NET, [], [], missing)


def test_resolvers_come_from_resolv_conf_without_loopback_or_ipv6(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(
        "# comment\nnameserver 10.255.255.53\nnameserver 127.0.0.53\n"
        "nameserver fd00::1\nsearch example\nnameserver 192.0.2.9\n"
    )
    assert dns_servers(Settings(), resolv) == ["10.255.255.53", "192.0.2.9"]
    assert dns_servers(Settings(build_dns_servers=["10.1.2.3"]), resolv) == ["10.1.2.3"]
    assert dns_servers(Settings(), tmp_path / "missing") == []


def test_limits_become_engine_parameters() -> None:
    limits = BuildLimits.from_settings(Settings(build_memory="2G", build_cpus=0.5))
    assert limits.engine_params() == {
        "memory": 2 * 1024**3,
        "memswap": 2 * 1024**3,
        "cpuperiod": 100_000,
        "cpuquota": 50_000,
    }
    assert limits.pids == 512 and limits.timeout == 900
    with pytest.raises(BuildFailed, match="build limits are not valid"):
        BuildLimits.from_settings(Settings(build_memory="lots"))


def _cgroupfs(root: Path) -> Path:
    for controller in ("pids", "memory"):
        (root / controller).mkdir(parents=True)
    return root


def test_the_build_cgroup_carries_the_pids_limit_and_lists_only_container_dirs(
    tmp_path: Path,
) -> None:
    root = _cgroupfs(tmp_path / "cgroup")
    cgroup = BuildCgroup.create("p1", 77, root)
    directory = cgroup.directory("pids")
    assert directory.parent == root / "pids" / "xae-build-p1"
    assert (directory / "pids.max").read_text() == "77\n"
    (directory / ("a" * 64)).mkdir()
    (directory / "not-a-container").mkdir()
    assert cgroup.container_ids() == ["a" * 64]
    assert BuildCgroup.create("p1", 77, root).path != cgroup.path, "one cgroup per build"


def test_a_host_without_a_cgroup_v1_pids_controller_is_refused(tmp_path: Path) -> None:
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cgroup.controllers").write_text("cpu memory pids\n")
    with pytest.raises(BuildFailed, match="XAE_BUILD_PIDS=0"):
        BuildCgroup.create("p1", 10, v2)


def test_a_deadline_that_passes_runs_its_expiry_once_and_the_work_is_not_in_time() -> None:
    fired = threading.Event()
    with Deadline(0.05, fired.set) as deadline:
        assert fired.wait(5)
        assert deadline.finish() is False
    assert deadline.expired


def test_work_finished_in_time_never_expires() -> None:
    calls: list[int] = []
    with Deadline(60, lambda: calls.append(1)) as deadline:
        assert deadline.finish() is True
    assert not deadline.expired and calls == []
