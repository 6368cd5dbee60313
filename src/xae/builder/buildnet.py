"""The network app builds run on: out to the internet (package registries), nowhere else.

A Dockerfile's `RUN` steps are tenant code running on this machine. On Docker's default bridge
they could reach everything listening on the host through the bridge's gateway (the router on
0.0.0.0, anything else bound to all addresses), other tenants' containers, app networks and the
cluster's pod range. Builds still need the internet: pip, npm and apt reach their registries
(here through a transparent proxy, so nothing can be allow-listed by proxy settings alone).

So every build runs on one dedicated bridge network per plane, whose Linux bridge has a fixed
name, and xae installs two iptables chains keyed on that bridge:

- from INPUT (packets to any of the host's own addresses): refuse everything, except DNS to a
  configured resolver should one be local;
- from DOCKER-USER (packets Docker forwards): allow DNS to the configured resolvers, refuse the
  blocked ranges (private, shared, link-local, multicast); the rest goes out as usual.

The chains are written whole with one `iptables-restore --noflush` (atomic, so concurrent
builds never see half a chain) and the jumps into them are checked (`-C`) before being
inserted (`-I`); running it all again changes nothing. Inter-container traffic on the bridge is
off too (`enable_icc=false`): two builds never see each other.

What it must never do: touch chains or networks that are not its plane's, or build a command
from anything but validated addresses and names derived from the plane.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from xae.config import Settings
from xae.domain.policy import LABEL_MANAGED, LABEL_PLANE
from xae.errors import BuildFailed

Run = Callable[..., subprocess.CompletedProcess[str]]
"""`subprocess.run`'s shape; injectable so the rule logic is unit-tested without iptables."""

RESOLV_CONF = Path("/etc/resolv.conf")
REJECT = ["-j", "REJECT", "--reject-with", "icmp-admin-prohibited"]
"""Refuse at once ("No route to host") instead of dropping: a build that tries fails fast."""

BRIDGE_OPTION = "com.docker.network.bridge.name"
ROLE_LABEL = "xae.role"


@dataclass(frozen=True)
class BuildNetwork:
    """The names one plane's build network and its firewall use."""

    name: str
    """The Docker network (`xae-<plane>.builds`; a dot never occurs in an app's network name)."""
    bridge: str
    """The Linux bridge (at most 15 characters, so derived from a hash of the plane)."""
    input_chain: str
    forward_chain: str

    @classmethod
    def for_plane(cls, plane: str) -> BuildNetwork:
        digest = hashlib.sha256(plane.encode()).hexdigest()[:10]
        return cls(
            name=f"xae-{plane}.builds",
            bridge=f"xaeb-{digest}",
            input_chain=f"XAEB-IN-{digest}",
            forward_chain=f"XAEB-FW-{digest}",
        )


def dns_servers(settings: Settings, resolv_conf: Path = RESOLV_CONF) -> list[str]:
    """The resolvers builds may query: the setting, else the host's non-loopback IPv4 ones."""
    if settings.build_dns_servers is not None:
        return [str(ipaddress.IPv4Address(s)) for s in settings.build_dns_servers]
    servers: list[str] = []
    try:
        text = resolv_conf.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return servers
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                address = ipaddress.IPv4Address(fields[1])
            except ValueError:
                continue  # IPv6 resolvers: builds have no IPv6
            if not address.is_loopback:  # Docker never hands loopback resolvers to containers
                servers.append(str(address))
    return servers


def restore_script(net: BuildNetwork, dns: Sequence[str], blocked: Sequence[str]) -> str:
    """The `iptables-restore --noflush` input that (re)writes both chains whole."""
    dns = [str(ipaddress.IPv4Address(s)) for s in dns]
    cidrs = [str(ipaddress.IPv4Network(c, strict=False)) for c in blocked]
    lines = ["*filter", f":{net.input_chain} - [0:0]", f":{net.forward_chain} - [0:0]"]
    for server in dns:
        for proto in ("udp", "tcp"):
            lines.append(
                f"-A {net.input_chain} -d {server}/32 -p {proto} -m {proto} --dport 53 -j ACCEPT"
            )
    lines.append(f"-A {net.input_chain} {' '.join(REJECT)}")
    for server in dns:
        for proto in ("udp", "tcp"):
            lines.append(
                f"-A {net.forward_chain} -d {server}/32 -p {proto} -m {proto} --dport 53 -j RETURN"
            )
    for cidr in cidrs:
        lines.append(f"-A {net.forward_chain} -d {cidr} {' '.join(REJECT)}")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def jump_rules(net: BuildNetwork) -> list[tuple[str, list[str]]]:
    """(chain, rule) pairs that send the bridge's traffic into xae's chains."""
    return [
        ("INPUT", ["-i", net.bridge, "-j", net.input_chain]),
        ("DOCKER-USER", ["-i", net.bridge, "-j", net.forward_chain]),
    ]


def _iptables(
    run: Run, args: list[str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`iptables --wait ARGS`, or `iptables-restore --noflush` fed `stdin` when it is given."""
    if stdin is None:
        command = ["iptables", "--wait", *args]
    else:
        command = ["iptables-restore", "--noflush", "--wait"]
    try:
        return run(command, input=stdin, capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError as e:
        raise BuildFailed(
            "iptables is not installed, so builds cannot be kept off the host and other "
            "containers: install it (`make up` does)"
        ) from e
    except subprocess.TimeoutExpired as e:
        raise BuildFailed("iptables did not answer within 30 s; retry the build") from e


def install_firewall(
    net: BuildNetwork, dns: Sequence[str], blocked: Sequence[str], run: Run = subprocess.run
) -> None:
    """Write xae's two chains for `net` and make sure the bridge's traffic jumps into them."""
    done = _iptables(run, [], stdin=restore_script(net, dns, blocked))
    if done.returncode != 0:
        raise BuildFailed(f"could not install the build firewall: {done.stderr.strip()[:300]}")
    for chain, rule in jump_rules(net):
        if _iptables(run, ["-C", chain, *rule]).returncode == 0:
            continue
        done = _iptables(run, ["-I", chain, "1", *rule])
        if done.returncode != 0:
            raise BuildFailed(
                f"could not insert the build firewall into {chain}: {done.stderr.strip()[:300]}"
            )


def remove_firewall(net: BuildNetwork, run: Run = subprocess.run) -> None:
    """Undo install_firewall (used when a plane is removed, and by tests)."""
    for chain, rule in jump_rules(net):
        while _iptables(run, ["-C", chain, *rule]).returncode == 0:
            _iptables(run, ["-D", chain, *rule])
    for chain in (net.input_chain, net.forward_chain):
        _iptables(run, ["-F", chain])
        _iptables(run, ["-X", chain])


def _find_network(client: docker.DockerClient, name: str) -> dict[str, Any] | None:
    for network in client.api.networks(names=[name]):
        if network.get("Name") == name:  # the engine's name filter also matches substrings
            return dict(network)
    return None


def ensure_network(client: docker.DockerClient, net: BuildNetwork, plane: str) -> None:
    """Create the plane's build network unless it exists; refuse a look-alike."""
    try:
        found = _find_network(client, net.name)
        if found is None:
            try:
                client.api.create_network(
                    net.name,
                    driver="bridge",
                    check_duplicate=True,
                    options={
                        BRIDGE_OPTION: net.bridge,
                        "com.docker.network.bridge.enable_icc": "false",
                    },
                    labels={LABEL_MANAGED: "1", LABEL_PLANE: plane, ROLE_LABEL: "build"},
                )
                return
            except docker.errors.APIError as e:
                if e.status_code != 409:  # 409: a concurrent build created it first
                    raise
                found = _find_network(client, net.name)
    except docker.errors.APIError as e:
        raise BuildFailed(
            f"could not create the build network {net.name}: {e.explanation or e}"
        ) from e
    if found is None or (found.get("Options") or {}).get(BRIDGE_OPTION) != net.bridge:
        raise BuildFailed(
            f"the Docker network {net.name} exists but is not xae's build network (its bridge "
            f"is not {net.bridge}); remove it with `docker network rm {net.name}` and retry"
        )


def prepare_build_network(
    client: docker.DockerClient,
    settings: Settings,
    run: Run = subprocess.run,
    resolv_conf: Path = RESOLV_CONF,
) -> str:
    """Make the plane's build network and its firewall ready; the network's name."""
    net = BuildNetwork.for_plane(settings.plane)
    ensure_network(client, net, settings.plane)
    try:
        install_firewall(net, dns_servers(settings, resolv_conf), settings.build_blocked_cidrs, run)
    except ValueError as e:  # a malformed address in the settings
        raise BuildFailed(f"the build network settings are not valid: {e}") from e
    return net.name


def remove_build_network(
    client: docker.DockerClient, plane: str, run: Run = subprocess.run
) -> None:
    """Remove a plane's build network and its firewall (tests; uninstalling a plane)."""
    net = BuildNetwork.for_plane(plane)
    found = _find_network(client, net.name)
    if found is not None:
        with contextlib.suppress(docker.errors.NotFound):  # removed meanwhile: the goal
            client.api.remove_network(found["Id"])
    remove_firewall(net, run)
