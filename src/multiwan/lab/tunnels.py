"""Tunnel servers for the lab: real wireguard-go and openvpn in the internet host, one per
ISP, and the router's tunnel links riding on the ISP links.

    router --wan<k>-- isp<k> --NAT-- inet: tunnel k's server at 203.0.113.20, port 51820+k
    (WireGuard) or 1194+k (OpenVPN), tunnel addresses 10.99.k.2 (router) and 10.99.k.1

The tunnel server has an address of its own: openvpn drops what would go through the
tunnel to its own server's address ("recursive routing"), so the internet host's servers
(203.0.113.10) sit behind another.

The internet host's servers answer with the source they see, 10.99.k.2 for what came
through tunnel k: that names the tunnel a flow took. Keys and configs live in the lab's
state directory; the server devices are named after the lab's tag, as wireguard-go's
control sockets (/var/run/wireguard/NAME.sock) are shared by every namespace.
"""

import re
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from multiwan.core.tunnels import TunnelKind
from multiwan.kernel.tunnels import WG_SOCKET_DIR
from multiwan.lab.topology import SERVER_IP, Lab

WG_PORT, OVPN_PORT = 51820, 1194
TUNNEL_SERVER_IP = "203.0.113.20"


@dataclass(frozen=True)
class TunnelEnd:
    """Tunnel k: its link in the router and its server in the internet host."""

    index: int
    kind: TunnelKind
    link: str  # the router's tunnel link
    interface: str  # its device in the router
    server_interface: str
    config: str  # the router's tunnel config file

    @property
    def address(self) -> str:
        """The router's end, which the internet host's servers see as the source."""
        return f"10.99.{self.index}.2"

    @property
    def server_address(self) -> str:
        return f"10.99.{self.index}.1"

    @property
    def address6(self) -> str:
        """The router's end inside an IPv6-carrying tunnel (`tunnel_servers(ipv6=True)`)."""
        return f"fd99:{self.index}::2"


def _wg(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["wg", *args], input=stdin, capture_output=True, text=True, check=True
    ).stdout.strip()


def _wireguard_server(lab: Lab, k: int, device: str, client_public: str, ipv6: bool) -> str:
    """wireguard-go in the internet host for tunnel k; the server's public key."""
    private = _wg("genkey")
    lab.start(lab.inet, "wireguard-go", "--foreground", device)
    lab.inet.wait_for(["test", "-S", f"/var/run/wireguard/{device}.sock"])
    allowed = f"10.99.{k}.2/32, 10.10.0.0/24" + (f", fd99:{k}::2/128" if ipv6 else "")
    conf = (
        f"[Interface]\nPrivateKey = {private}\nListenPort = {WG_PORT + k}\n"
        f"[Peer]\nPublicKey = {client_public}\nAllowedIPs = {allowed}\n"
    )
    lab.inet.run("wg", "setconf", device, "/dev/stdin", input=conf)
    lab.inet.run("ip", "address", "add", f"10.99.{k}.1/24", "dev", device)
    if ipv6:
        lab.inet.run("ip", "address", "add", f"fd99:{k}::1/64", "dev", device, "nodad")
    lab.inet.run("ip", "link", "set", device, "up")
    return _wg("pubkey", stdin=private)


def _wireguard(lab: Lab, k: int, ipv6: bool = False) -> TunnelEnd:
    """With `ipv6`, the tunnel carries IPv6 too: the router's end is also fd99:k::2/128."""
    client_private = _wg("genkey")
    server = f"mws{k}{lab.tag}"
    client_public = _wg("pubkey", stdin=client_private)
    server_public = _wireguard_server(lab, k, server, client_public, ipv6)
    path = lab.state_dir / f"wg{k}.conf"
    inner6, all6 = (f", fd99:{k}::2/128", ", ::/0") if ipv6 else ("", "")
    path.write_text(
        f"[Interface]\nPrivateKey = {client_private}\nAddress = 10.99.{k}.2/32{inner6}\n\n"
        f"[Peer]\nPublicKey = {server_public}\nEndpoint = {TUNNEL_SERVER_IP}:{WG_PORT + k}\n"
        f"AllowedIPs = 0.0.0.0/0{all6}\nPersistentKeepalive = 1\n"
    )
    path.chmod(0o600)
    return TunnelEnd(k, "wireguard", f"vpn{k}", f"mwc{k}{lab.tag}", server, str(path))


def _openvpn(lab: Lab, k: int) -> TunnelEnd:
    key = lab.state_dir / f"ovpn{k}.key"
    subprocess.run(["openvpn", "--genkey", "secret", str(key)], check=True, capture_output=True)
    server = f"ovs{k}{lab.tag}"
    common = ["--proto", "udp", "--cipher", "AES-256-CBC", "--ping", "1", "--verb", "3"]
    lab.start(
        lab.inet, "openvpn", "--dev", server, "--dev-type", "tun", "--local", TUNNEL_SERVER_IP,
        "--lport", str(OVPN_PORT + k), "--secret", str(key), "0", "--float",
        "--ifconfig", f"10.99.{k}.1", f"10.99.{k}.2", "--log", str(_server_log(lab, k)),
        *common,
    )  # fmt: skip
    lab.inet.wait_for(["ip", "link", "show", server])
    path = lab.state_dir / f"ovpn{k}.conf"
    path.write_text(
        f"remote {TUNNEL_SERVER_IP} {OVPN_PORT + k}\nnobind\nsecret {key} 1\n"
        f"ifconfig 10.99.{k}.2 10.99.{k}.1\n{' '.join(common[:2])}\n"
        "cipher AES-256-CBC\nping 1\nping-restart 5\nverb 3\n"
    )
    return TunnelEnd(k, "openvpn", f"vpn{k}", f"ovc{k}{lab.tag}", server, str(path))


def _server_log(lab: Lab, k: int) -> Path:
    return lab.state_dir / f"ovpn{k}-server.log"


def peer_addresses(lab: Lab, end: TunnelEnd) -> set[str]:
    """The addresses the server of tunnel `end` heard its client from (after the ISP's NAT:
    198.18.k.2 when it came through ISP k)."""
    if end.kind == "wireguard":
        out = lab.inet.run("wg", "show", end.server_interface, "endpoints").stdout
        return {line.split()[1].rsplit(":", 1)[0] for line in out.splitlines() if ":" in line}
    log = _server_log(lab, end.index).read_text()
    return set(re.findall(r"Peer Connection Initiated with \[AF_INET\]([\d.]+):", log))


def kernel_wireguard(lab: Lab) -> bool:
    """Whether this kernel has WireGuard (tried in the lab's router with a device of its own,
    deleted at once): the daemon runs kernel tunnels where it has, wireguard-go elsewhere."""
    probe = f"mwk{lab.tag}"
    created = lab.router.run("ip", "link", "add", probe, "type", "wireguard", check=False)
    if created.returncode:
        return False
    lab.router.run("ip", "link", "delete", probe)
    return True


def tunnel_processes(device: str) -> list[int]:
    """Pids of the lab's tunnel processes (wireguard-go, openvpn) for router device `device`,
    found by their command line."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith((b"wireguard-go", b"openvpn")) and device.encode() in argv:
            pids.append(int(cmdline.parent.name))
    return pids


def purge_stale_sockets() -> None:
    """Remove the control sockets that killed lab wireguard-go processes left behind (mwc*,
    mws*: lab names only), those nobody listens on any more."""
    for path in WG_SOCKET_DIR.glob("mw[cs]*.sock"):
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(path))
            except ConnectionRefusedError:
                path.unlink(missing_ok=True)
            except OSError:
                continue


def tunnel_servers(lab: Lab, kinds: list[TunnelKind], ipv6: bool = False) -> list[TunnelEnd]:
    """Tunnel k (kinds[k-1]) over ISP k: its server started, its router config written;
    with `ipv6`, WireGuard tunnels carry IPv6 too."""
    purge_stale_sockets()
    lab.inet.run("ip", "address", "add", f"{TUNNEL_SERVER_IP}/32", "dev", "lo")
    return [
        _wireguard(lab, k, ipv6) if kind == "wireguard" else _openvpn(lab, k)
        for k, kind in enumerate(kinds, start=1)
    ]


def tunnels_config(
    lab: Lab, ends: list[TunnelEnd], policy: str = "balance", weights: list[int] | None = None,
    ipv6: bool = False,
) -> str:  # fmt: skip
    """ISP links (probed at the internet host) and a tunnel link over each (probed at its
    server's tunnel address), the tunnels balanced by `policy`'s strategy. With `weights`,
    the tunnels are bonded (see `bonded_tunnels`): unmasqueraded, by weight, with link ids
    10+k and the server's tunnel address as gateway. With `ipv6`, the tunnel links route
    IPv6 too, masqueraded to their inner address (the ISP links stay IPv4-only)."""
    lines = ['default_policy = "tunnels"', ""]
    health = "interval = 0.3\ntimeout = 0.5\nfall = 2\nrise = 2"
    for end in ends:
        isp = lab.isps[end.index - 1]
        bonded = [] if weights is None else [
            f"id = {10 + end.index}", f'gateway = "{end.server_address}"',
            "masquerade = false", f"weight = {weights[end.index - 1]}",
        ]  # fmt: skip
        lines += [
            f"[links.{isp.name}]", f'interface = "{isp.router_if}"',
            f'gateway = "{isp.gateway}"', f"[links.{isp.name}.health]",
            f'targets = [{{ kind = "icmp", host = "{SERVER_IP}" }}]', health, "",
            f"[links.{end.link}]", f'interface = "{end.interface}"', f'tunnel = "{end.kind}"',
            f'over = "{isp.name}"', f'tunnel_config = "{end.config}"', *bonded,
            *(["ipv6 = true", "masquerade6 = true"] if ipv6 else []),
            f"[links.{end.link}.health]",
            f'targets = [{{ kind = "icmp", host = "{end.server_address}" }}]', health, "",
        ]  # fmt: skip
    members = ", ".join(f'"{end.link}"' for end in ends)
    lines += ["[policies.tunnels]", f'strategy = "{policy}"', f"links = [{members}]"]
    return "\n".join(lines) + "\n"


def bonded_tunnels(
    lab: Lab, n: int, kinds: list[TunnelKind] | None = None
) -> tuple[list[TunnelEnd], Path]:
    """Tunnel k (WireGuard, or kinds[k-1]) over ISP k with keys on both sides, the server's
    end left to the script of `multiwan server-config` (device mws<tag><10+k>; WireGuard's
    private key, or OpenVPN's static key, in the returned key directory as vpn<k>.key)."""
    purge_stale_sockets()
    lab.inet.run("ip", "address", "add", f"{TUNNEL_SERVER_IP}/32", "dev", "lo")
    keys = lab.state_dir / "server-keys"
    keys.mkdir(mode=0o700)
    ends = []
    default: list[TunnelKind] = ["wireguard"] * n
    for k, kind in enumerate(kinds or default, start=1):
        path = lab.state_dir / f"{'wg' if kind == 'wireguard' else 'ovpn'}{k}.conf"
        server_if = f"mws{lab.tag}{10 + k}"
        if kind == "wireguard":
            client, server = _wg("genkey"), _wg("genkey")
            (keys / f"vpn{k}.key").write_text(server + "\n")
            path.write_text(
                f"[Interface]\nPrivateKey = {client}\nAddress = 10.99.{k}.2/24\n\n"
                f"[Peer]\nPublicKey = {_wg('pubkey', stdin=server)}\n"
                f"Endpoint = {TUNNEL_SERVER_IP}:{WG_PORT + k}\nAllowedIPs = 0.0.0.0/0\n"
                "PersistentKeepalive = 1\n"
            )
            interface = f"mwc{k}{lab.tag}"
        else:
            key = lab.state_dir / f"ovpn{k}.key"
            subprocess.run(["openvpn", "--genkey", "secret", str(key)], check=True,
                           capture_output=True)  # fmt: skip
            (keys / f"vpn{k}.key").write_bytes(key.read_bytes())  # the server's copy
            path.write_text(
                f"remote {TUNNEL_SERVER_IP} {OVPN_PORT + k}\nnobind\nsecret {key} 1\n"
                f"ifconfig 10.99.{k}.2 10.99.{k}.1\nproto udp\ncipher AES-256-CBC\n"
                "ping 1\nping-restart 5\nverb 3\n"
            )
            interface = f"ovc{k}{lab.tag}"
        ends.append(TunnelEnd(k, kind, f"vpn{k}", interface, server_if, str(path)))
    return ends, keys
