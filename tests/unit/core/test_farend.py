"""The far end's script: weights become the same numgen choice as the router's, setting
only multiwan's mark bits; marks and tables are the router's own for each tunnel link; an
OpenVPN server is derived from a static-key client's file, or left to the user to complete."""

from pathlib import Path

from multiwan.config.tunnels import parse_openvpn_client
from multiwan.core.farend import FarTunnel, render_far_end
from multiwan.core.ownership import MarkSpace

STATIC = parse_openvpn_client(
    "remote 203.0.113.20 1195\nnobind\nsecret /etc/multiwan/ovpn2.key 1\n"
    "ifconfig 10.99.2.2 10.99.2.1\nproto udp\ncipher AES-256-CBC\nping 1\nping-restart 5\n"
)
TLS = parse_openvpn_client(
    "client\nremote vpn.example.net 1196 udp\nca ca.crt\ncert c.crt\nkey c.key\n"
    "cipher AES-256-GCM\n"
)

WG = FarTunnel(
    "vpn1", "wireguard", "mw2", 0x200, 7702, 1, "10.99.1.1/24", "PUB=", ("10.99.1.2/32",), 51821
)
OVPN = FarTunnel("vpn2", "openvpn", "mw4", 0x400, 7704, 3, None)


def test_the_script_stripes_the_lan_by_weight_over_each_tunnels_table() -> None:
    script = render_far_end("bond", [WG, OVPN], ["10.10.0.0/24"], "/etc/keys", MarkSpace())
    assert "# multiwan server-config: the far end of policy 'bond': vpn1 (weight 1), vpn2 " in (
        script
    )
    assert (
        "wg set mw2 listen-port 51821 private-key /etc/keys/vpn1.key peer PUB= "
        "allowed-ips 10.99.1.2/32,10.10.0.0/24"
    ) in script
    assert "ip address replace 10.99.1.1/24 dev mw2" in script
    assert "#   dev mw4" in script  # no client file: a server stanza to complete
    assert "mw4 an address" not in script  # OpenVPN addresses its device itself
    assert "ip route replace default dev mw4 table 7704 proto 77" in script
    assert "ip rule add priority 7710 fwmark 0x400/0xff00 lookup 7704 proto 77" in script
    assert "ip route replace 10.10.0.0/24 dev mw2 proto 77" in script
    choice = (
        "ip daddr { 10.10.0.0/24 } numgen inc mod 4 vmap { 0 : goto mark_vpn1, "
        "1-3 : goto mark_vpn2 }"
    )
    assert script.count(choice) == 2  # forwarded and the server's own packets
    assert "\t\tmeta mark set meta mark & 0xffff00ff | 0x200\n" in script  # others' bits kept
    assert "\t\tmeta mark set meta mark & 0xffff00ff | 0x400\n" in script
    assert 'ip saddr { 10.10.0.0/24 } oifname != { "mw2", "mw4" } masquerade' in script
    assert script.startswith("#!/bin/sh\n")


def test_the_whole_script_as_the_server_runs_it() -> None:
    """Every line matters on the server: `|| true` and `2>/dev/null` make a second run
    change nothing, the mark mask is the router's (here moved to 0xff0000), a trailing
    slash of the key directory is not doubled. tests/unit/core/far_end_script.txt was
    read line by line before it was kept."""
    wg = FarTunnel(
        "vpn1", "wireguard", "mw2", 0x20000, 7702, 1, "10.99.1.1/24", "PUB=",
        ("10.99.1.2/32",), 51821,
    )  # fmt: skip
    ovpn = FarTunnel("vpn2", "openvpn", "mw4", 0x40000, 7704, 3, None, openvpn=STATIC)
    tls = FarTunnel("vpn3", "openvpn", "mw5", 0x50000, 7705, 2, None, openvpn=TLS)
    lan = ["10.10.0.0/24", "192.168.5.0/24"]
    script = render_far_end("bond", [wg, ovpn, tls], lan, "/etc/wgX/", MarkSpace(0xFF0000))
    assert script == (Path(__file__).parent / "far_end_script.txt").read_text()


def test_a_static_key_clients_server_is_started_with_the_mirrored_options() -> None:
    ovpn = FarTunnel("vpn2", "openvpn", "mw4", 0x200, 7702, 1, None, openvpn=STATIC)
    script = render_far_end("bond", [ovpn], ["10.10.0.0/24"], "/k", MarkSpace())
    assert (
        "ip link show mw4 >/dev/null 2>&1 || openvpn --daemon multiwan-vpn2 --dev mw4 "
        "--dev-type tun --proto udp --lport 1195 --secret /k/vpn2.key 0 "
        "--ifconfig 10.99.2.1 10.99.2.2 --float --multihome --cipher AES-256-CBC --ping 1 "
        "--ping-restart 5\n"
    ) in script  # the key's other direction, the addresses swapped
    assert "COMPLETE" not in script


def test_a_tls_clients_server_is_a_stanza_to_complete_and_the_script_stops_without_it() -> None:
    ovpn = FarTunnel("vpn3", "openvpn", "mw5", 0x200, 7702, 1, None, openvpn=TLS)
    script = render_far_end("bond", [ovpn], ["10.10.0.0/24"], "/k", MarkSpace())
    assert (
        "#   port 1196\n#   server COMPLETE-NETWORK COMPLETE-NETMASK\n#   ca COMPLETE\n" in script
    )
    assert "#   cipher AES-256-GCM\n" in script
    assert (
        "ip link show mw5 >/dev/null 2>&1 || { echo 'vpn3: start the OpenVPN server on mw5 "
        "first' >&2; exit 1; }"
    ) in script
    assert "openvpn --daemon" not in script


def test_the_server_mirrors_direction_and_protocol_and_derives_nothing_it_cannot() -> None:
    """Key direction 0 on the client is 1 on the server; a TCP client's server listens; a
    client with TLS options, or without its ifconfig, gets the stanza to complete."""
    tcp = parse_openvpn_client(
        "remote 203.0.113.20 1195 tcp-client\nsecret /k/ovpn.key 0\nifconfig 10.99.2.2 10.99.2.1\n"
    )
    script = render_far_end(
        "bond", [FarTunnel("vpn2", "openvpn", "mw4", 0x200, 7702, 1, None, openvpn=tcp)],
        ["10.10.0.0/24"], "/k", MarkSpace(),
    )  # fmt: skip
    assert "--proto tcp-server --lport 1195 --secret /k/vpn2.key 1 " in script
    for text in (
        "remote 203.0.113.20 1195\nsecret /k/ovpn.key 1\nifconfig 10.99.2.2 10.99.2.1\nca c\n",
        "remote 203.0.113.20 1195\nsecret /k/ovpn.key 1\n",
    ):
        client = parse_openvpn_client(text)
        tunnel = FarTunnel("vpn2", "openvpn", "mw4", 0x200, 7702, 1, None, openvpn=client)
        script = render_far_end("bond", [tunnel], ["10.10.0.0/24"], "/k", MarkSpace())
        assert "openvpn --daemon" not in script, text
        assert "#   port 1195\n" in script


def test_without_a_client_file_the_stanza_has_openvpns_defaults() -> None:
    script = render_far_end("bond", [OVPN], ["10.10.0.0/24"], "/k", MarkSpace())
    assert "#   proto udp\n#   port 1194\n" in script


def test_a_wireguard_end_without_an_address_is_named() -> None:
    bare = FarTunnel("vpn1", "wireguard", "mw2", 0x200, 7702, 1, None, "PUB=", (), 51821)
    script = render_far_end("bond", [bare], ["10.10.0.0/24"], "/k", MarkSpace())
    assert "# vpn1 has no gateway: give mw2 an address of your own.\n" in script


def test_a_tcp_tls_clients_stanza_listens() -> None:
    tls = parse_openvpn_client("client\nremote vpn.example.net 443 tcp-client\nca ca.crt\n")
    tunnel = FarTunnel("vpn3", "openvpn", "mw5", 0x200, 7702, 1, None, openvpn=tls)
    script = render_far_end("bond", [tunnel], ["10.10.0.0/24"], "/k", MarkSpace())
    assert "#   proto tcp-server\n#   port 443\n" in script
