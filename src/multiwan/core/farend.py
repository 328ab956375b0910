"""`multiwan server-config`: the far end of a policy whose links are tunnels to one Linux
server, as a shell script for that server.

The router stripes the LAN's packets over the tunnels (`packet`, with weights); the server
must do the same for what goes back to the LAN, or a single flow's download runs at the
speed of one tunnel. The script brings up the server's end of each WireGuard tunnel and of
each static-key OpenVPN tunnel (an OpenVPN client with certificates gets a server stanza for
the user to complete: keys and certificates cannot be derived), marks every packet towards
the LAN with a tunnel chosen in turn by weight (one nft rule per hook, the same numgen
choice as the router's, setting only the mark's bits multiwan owns, like the router: other
software's bits are kept), routes each mark by its tunnel's table, and masquerades the LAN
where it leaves the server otherwise. Marks and tables are the router's own for the same
links, so both ends read alike.
"""

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from multiwan.config.tunnels import OpenvpnClient
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
    openvpn: OpenvpnClient | None = None  # OpenVPN: what the router's client file says


def _mark_chain(tunnel: FarTunnel) -> str:
    return f"mark_{tunnel.link}"


def _numgen_vmap(tunnels: Sequence[FarTunnel]) -> str:
    """`numgen inc mod W vmap { 0 : goto mark_a, 1-2 : goto mark_b }`: the tunnels in turn
    by weight, each chain setting its tunnel's mark bits."""
    entries, first = [], 0
    for tunnel in tunnels:
        last = first + tunnel.weight - 1
        span = str(first) if first == last else f"{first}-{last}"
        entries.append(f"{span} : goto {_mark_chain(tunnel)}")
        first = last + 1
    return f"numgen inc mod {first} vmap {{ {', '.join(entries)} }}"


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


#: The server's side of the client's --proto.
SERVER_PROTO = {"tcp": "tcp-server", "tcp-client": "tcp-server", "tcp4-client": "tcp4-server",
                "tcp6-client": "tcp6-server"}  # fmt: skip


def _openvpn(tunnel: FarTunnel, key_dir: str) -> list[str]:
    """A static-key client's server, started unless its device exists; else the stanza of
    a server for the user to complete (certificates cannot be derived)."""
    dev, client = shlex.quote(tunnel.device), tunnel.openvpn
    if client is None or client.secret is None or client.ifconfig is None or client.tls:
        return _openvpn_stanza(tunnel)
    key = f"{key_dir.rstrip('/')}/{tunnel.link}.key"
    direction = client.secret[1]
    mine, server = client.ifconfig
    proto = SERVER_PROTO.get(client.proto, client.proto)
    argv = [
        "openvpn", "--daemon", f"multiwan-{tunnel.link}", "--dev", tunnel.device,
        "--dev-type", "tun", "--proto", proto, "--lport", str(client.port), "--secret", key,
        *([] if direction is None else ["1" if direction == "0" else "0"]),
        "--ifconfig", server, mine, "--float",
        # Answer from the address the client reached (it drops answers from any other).
        *(["--multihome"] if proto.startswith("udp") else []),
        *(arg for option in client.shared for arg in (f"--{option[0]}", *option[1:])),
    ]  # fmt: skip
    return [
        f"# {tunnel.link}: OpenVPN with a static key: its server on device {dev};",
        f"# {shlex.quote(key)} is a copy of the router's {client.secret[0]}.",
        f"ip link show {dev} >/dev/null 2>&1 || {' '.join(shlex.quote(a) for a in argv)}",
        f"i=0; until ip link show {dev} >/dev/null 2>&1; do i=$((i + 1)); "
        f"[ $i -le 100 ] || exit 1; sleep 0.1; done",
    ]


def _openvpn_stanza(tunnel: FarTunnel) -> list[str]:
    dev = shlex.quote(tunnel.device)
    client = tunnel.openvpn
    port, proto = (client.port, client.proto) if client else (1194, "udp")
    shared = [" ".join(option) for option in client.shared] if client else []
    missing = f"{tunnel.link}: start the OpenVPN server on {tunnel.device} first"
    return [
        f"# {tunnel.link}: OpenVPN with certificates (or an inline key): its server cannot be",
        "# derived from the router's file. Complete this server config (every COMPLETE), run",
        "# it (e.g. /etc/openvpn/server/multiwan.conf), then this script:",
        *(
            f"#   {line}"
            for line in [
                f"dev {tunnel.device}",
                "dev-type tun",
                f"proto {SERVER_PROTO.get(proto, proto)}",
                f"port {port}",
                "server COMPLETE-NETWORK COMPLETE-NETMASK",
                "ca COMPLETE",
                "cert COMPLETE",
                "key COMPLETE",
                "dh COMPLETE",
                "client-config-dir COMPLETE  # the router's file there: iroute <each LAN>",
                *shared,
            ]
        ),
        f"ip link show {dev} >/dev/null 2>&1 || {{ echo {shlex.quote(missing)} >&2; exit 1; }}",
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
            if tunnel.address:
                lines.append(f"ip address replace {tunnel.address} dev {dev}")
            else:
                lines.append(f"# {tunnel.link} has no gateway: give {dev} an address of your own.")
        else:  # OpenVPN addresses its device itself
            lines += _openvpn(tunnel, key_dir)
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
    choice = f"ip daddr {{ {nets} }} {_numgen_vmap(tunnels)}"
    lines += [
        "",
        "# Every packet towards the LAN takes a tunnel by weight (only multiwan's mark bits are",
        "# set: other software's are kept); the LAN leaves elsewhere masqueraded.",
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
        *(
            line
            for t in tunnels
            for line in (
                f"\tchain {_mark_chain(t)} {{",
                f"\t\tmeta mark set meta mark & {marks.keep:#x} | {t.mark:#x}",
                "\t}",
            )
        ),
        "\tchain postrouting {",
        "\t\ttype nat hook postrouting priority srcnat; policy accept;",
        f"\t\tip saddr {{ {nets} }} oifname != {{ {devices} }} masquerade",
        "\t}",
        "}",
        "EOF",
    ]
    return "\n".join(lines) + "\n"
