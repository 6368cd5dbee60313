"""App instances open no connection to the host (but the router's port), nor into private ranges.

Docker isolates app networks from each other, but not from the host: a packet from an instance
to any of the host's own addresses (its bridge's gateway, the cluster bridge, the public
address) goes to INPUT, and every service bound to all addresses or to a bridge answered (the
hardening tests reached the kube-apiserver and the kubelet from an app). Nothing an instance
needs arrives there: the router reaches instances (host to container, the replies are
`ESTABLISHED`), and Docker's DNS for user-defined networks answers inside the container.

So each app network's Linux bridge jumps from INPUT into one chain per plane that lets through
replies and new connections to the router's public port(s) (an app may call another app by its
public address, as anyone may) and refuses the rest at once. The chain is written whole with
`iptables-restore --noflush`; jumps are checked (`-C`) before they are inserted, so running it
again changes nothing. A second chain, from DOCKER-USER (what Docker forwards), refuses new
connections leaving the bridge into the blocked ranges (`app_blocked_cidrs`: the LAN, cloud
metadata, the cluster's pods), DNS excepted; traffic inside one app's network is untouched.

What it must never do: touch chains or rules that are not its plane's, or build a command from
anything but a validated bridge name, port numbers and a hash of the plane.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xae.errors import RuntimeFailure

Run = Callable[..., subprocess.CompletedProcess[str]]
"""`subprocess.run`'s shape; injectable so the rules are unit-tested without iptables."""

REJECT = ["-j", "REJECT", "--reject-with", "icmp-admin-prohibited"]
_BRIDGE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def bridge_of(network_id: str, options: dict[str, str] | None) -> str:
    """The Linux bridge of a Docker bridge network: its `bridge.name` option, else `br-<id>`."""
    name = (options or {}).get("com.docker.network.bridge.name") or f"br-{network_id[:12]}"
    if not _BRIDGE.match(name):
        raise RuntimeFailure(f"the app network's bridge name {name[:40]!r} is not a bridge name")
    return name


@dataclass(frozen=True)
class HostWall:
    """The INPUT firewall of one plane's app networks."""

    chain: str
    allowed_ports: tuple[int, ...]
    """TCP ports of the host that instances may open connections to (the router's)."""
    forward_chain: str = ""
    blocked: tuple[str, ...] = ()
    """Ranges instances may not connect to through the host (DNS excepted)."""
    run: Run = subprocess.run

    @classmethod
    def for_plane(
        cls,
        plane: str,
        allowed_ports: Sequence[int],
        blocked: Sequence[str] = (),
        run: Run = subprocess.run,
    ) -> HostWall:
        digest = hashlib.sha256(plane.encode()).hexdigest()[:10]
        ports = tuple(sorted({int(p) for p in allowed_ports if 0 < int(p) < 65536}))
        cidrs = tuple(str(ipaddress.IPv4Network(c, strict=False)) for c in blocked)
        return cls(
            chain=f"XAEA-IN-{digest}",
            allowed_ports=ports,
            forward_chain=f"XAEA-FW-{digest}",
            blocked=cidrs,
            run=run,
        )

    def restore_script(self) -> str:
        lines = [
            "*filter",
            f":{self.chain} - [0:0]",
            f"-A {self.chain} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        ]
        lines += [
            f"-A {self.chain} -p tcp -m tcp --dport {port} -j RETURN" for port in self.allowed_ports
        ]
        # A late packet of a closed connection (conntrack calls it INVALID) is dropped, not
        # answered: an ICMP error sent back for it may reach a reused socket of the router.
        lines.append(f"-A {self.chain} -m conntrack --ctstate INVALID -j DROP")
        lines.append(f"-A {self.chain} {' '.join(REJECT)}")
        if self.forward_chain:
            fw = self.forward_chain
            lines += [
                f":{fw} - [0:0]",
                f"-A {fw} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
                f"-A {fw} -p udp -m udp --dport 53 -j RETURN",
                f"-A {fw} -p tcp -m tcp --dport 53 -j RETURN",
            ]
            lines += [f"-A {fw} -d {cidr} {' '.join(REJECT)}" for cidr in self.blocked]
        lines.append("COMMIT")
        return "\n".join(lines) + "\n"

    def jumps(self, bridge: str) -> list[list[str]]:
        rules = [["INPUT", "-i", bridge, "-j", self.chain]]
        if self.forward_chain:
            rules.append(["DOCKER-USER", "-i", bridge, "!", "-o", bridge, "-j", self.forward_chain])
        return rules

    def install_chain(self) -> None:
        """(Re)write the plane's chain; the jumps into it are added per network."""
        done = self._iptables([], stdin=self.restore_script())
        if done.returncode != 0:
            raise RuntimeFailure(
                f"could not install the app network firewall: {done.stderr.strip()[:300]}"
            )

    def guard(self, bridge: str) -> None:
        """Send `bridge`'s packets to the host, and out of it, into the plane's chains (once)."""
        for rule in self.jumps(bridge):
            if self._iptables(["-C", *rule]).returncode == 0:
                continue
            done = self._iptables(["-I", rule[0], "1", *rule[1:]])
            if done.returncode != 0:
                raise RuntimeFailure(
                    f"could not fence {bridge} off the host: {done.stderr.strip()[:300]}"
                )

    def release(self, bridge: str) -> None:
        """Remove `bridge`'s jumps (before its network is removed); bounded like every loop."""
        for rule in self.jumps(bridge):
            for _ in range(16):
                if self._iptables(["-C", *rule]).returncode != 0:
                    break
                self._iptables(["-D", *rule])

    def remove(self) -> None:
        """Delete the plane's chains (when the plane is removed: its networks are gone)."""
        for chain in (self.chain, self.forward_chain):
            if chain:
                self._iptables(["-F", chain])
                self._iptables(["-X", chain])

    def _iptables(
        self, args: list[str], stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = (
            ["iptables", "--wait", *args]
            if stdin is None
            else ["iptables-restore", "--noflush", "--wait"]
        )
        try:
            return self.run(
                command, input=stdin, capture_output=True, text=True, timeout=30, check=False
            )
        except FileNotFoundError as e:
            raise RuntimeFailure(
                "iptables is not installed, so app instances cannot be kept off the host: "
                "install it (`make up` does)"
            ) from e
        except subprocess.TimeoutExpired as e:
            raise RuntimeFailure("iptables did not answer within 30 s; retry") from e
