"""`multiwan server-config`: the far end of a policy whose links are tunnels to one Linux
server, as a shell script for that server.

The router stripes the LAN's packets over the tunnels (`packet`, with weights); the server
must do the same for what goes back to the LAN, or a single flow's download runs at the
speed of one tunnel. The script brings up the server's end of each WireGuard tunnel, marks
every packet towards the LAN with a weighted random tunnel choice (one nft rule per hook,
the same numgen map as the router's), routes each mark by its tunnel's table, and
masquerades the LAN where it leaves the server otherwise. Marks and tables are the
router's own for the same links, so both ends read alike.
"""

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from multiwan.core.ownership import PRIO_FWMARK, ROUTE_PROTO, MarkSpace
from multiwan.core.tunnels import TunnelKind

FAR_TABLE = "multiwan_far"


@dataclass(frozen=True)
class FarTunnel:
    """One tunnel as the server sees it."""

    link: str
    kind: TunnelKind
    device: str  # the server's tunnel device
    mark: int
    table: int
    weight: int
    address: str | None  # the server's tunnel address/prefix (the link's gateway)
    peer_public: str | None = None  # WireGuard: the router's public key
    peer_addresses: tuple[str, ...] = ()  # WireGuard: the router's tunnel addresses
    listen_port: int | None = None  # WireGuard: the port the router's Endpoint names


def _numgen_map(tunnels: Sequence[FarTunnel]) -> str:
    """`numgen inc mod W map { 0 : 0x100, 1-2 : 0x200 }`: the tunnels in turn by weight."""
    entries, first = [], 0
    for tunnel in tunnels:
        last = first + tunnel.weight - 1
        span = str(first) if first == last else f"{first}-{last}"
        entries.append(f"{span} : {tunnel.mark:#x}")
        first = last + 1
    return f"numgen inc mod {first} map {{ {', '.join(entries)} }}"


def _wireguard(tunnel: FarTunnel, lan: Sequence[str], key_dir: str) -> list[str]:
    dev = shlex.quote(tunnel.device)
    allowed = ",".join([*tunnel.peer_addresses, *lan])
    key = shlex.quote(f"{key_dir.rstrip('/')}/{tunnel.link}.key")
    return [
        f"# {tunnel.link}: WireGuard; {key} holds the private key whose public key is the",
        "# Peer PublicKey of the router's file. Kernel module, else wireguard-go.",
        f"ip link show {dev} >/dev/null 2>&1 || ip link add {dev} type wireguard 2>/dev/null"
        f" || wireguard-go {dev}",
        f"wg set {dev} listen-port {tunnel.listen_port} private-key {key} "
        f"peer {tunnel.peer_public} allowed-ips {allowed}",
    ]


def render_far_end(
    policy: str, tunnels: Sequence[FarTunnel], lan: Sequence[str], key_dir: str,
    marks: MarkSpace,
) -> str:  # fmt: skip
    """The server's script for `policy`'s tunnels, which stripe towards `lan`."""
    shares = ", ".join(f"{t.link} (weight {t.weight})" for t in tunnels)
    lines = [
        "#!/bin/sh",
        f"# multiwan server-config: the far end of policy {policy!r}: {shares}.",
        "# Run as root on the server; running it again changes nothing.",
        "set -e",
        "sysctl -qw net.ipv4.ip_forward=1",
    ]
    for tunnel in tunnels:
        dev = shlex.quote(tunnel.device)
        lines.append("")
        if tunnel.kind == "wireguard":
            lines += _wireguard(tunnel, lan, key_dir)
        else:
            lines += [
                f"# {tunnel.link}: OpenVPN: run the server of the router's file on device {dev}",
                f"# (dev {tunnel.device}, dev-type tun) before this script.",
            ]
        if tunnel.address:
            lines.append(f"ip address replace {tunnel.address} dev {dev}")
        else:
            lines.append(f"# {tunnel.link} has no gateway: give {dev} an address of your own.")
        lines += [
            # One packet per skb from the server's own sockets: the nft choice below is
            # made per skb, so a 64 KB GSO skb would take one tunnel whole.
            f"ip link set {dev} gso_max_segs 1 up",
            # Packets of one flow arrive over every tunnel: loose reverse-path checks only.
            f"sysctl -qw net.ipv4.conf.{tunnel.device}.rp_filter=2",
            f"ip route replace default dev {dev} table {tunnel.table} proto {ROUTE_PROTO}",
            f"ip rule del priority {PRIO_FWMARK} fwmark {tunnel.mark:#x}/{marks.mask:#x} "
            f"2>/dev/null || true",
            f"ip rule add priority {PRIO_FWMARK} fwmark {tunnel.mark:#x}/{marks.mask:#x} "
            f"lookup {tunnel.table} proto {ROUTE_PROTO}",
        ]
    first = shlex.quote(tunnels[0].device)
    lines.append("")
    lines.append(
        "# Unmarked lookups (and reverse-path checks) find the LAN behind the first tunnel."
    )
    lines += [f"ip route replace {net} dev {first} proto {ROUTE_PROTO}" for net in lan]
    nets = ", ".join(lan)
    devices = ", ".join(f'"{t.device}"' for t in tunnels)
    choice = f"ip daddr {{ {nets} }} meta mark set {_numgen_map(tunnels)}"
    lines += [
        "",
        "# Every packet towards the LAN takes a tunnel by weight; the LAN leaves elsewhere",
        "# masqueraded.",
        "nft -f - <<'EOF'",
        f"table inet {FAR_TABLE}",
        f"delete table inet {FAR_TABLE}",
        f"table inet {FAR_TABLE} {{",
        "\tchain prerouting {",
        "\t\ttype filter hook prerouting priority mangle; policy accept;",
        f"\t\t{choice}",
        "\t}",
        "\tchain output {",
        "\t\ttype route hook output priority mangle; policy accept;",
        f"\t\t{choice}",
        "\t}",
        "\tchain postrouting {",
        "\t\ttype nat hook postrouting priority srcnat; policy accept;",
        f"\t\tip saddr {{ {nets} }} oifname != {{ {devices} }} masquerade",
        "\t}",
        "}",
        "EOF",
    ]
    return "\n".join(lines) + "\n"
