"""The far end's script: weights become the same numgen map as the router's, marks and
tables are the router's own for each tunnel link."""

from pathlib import Path

from multiwan.core.farend import FarTunnel, render_far_end
from multiwan.core.ownership import MarkSpace

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
    assert "# vpn2: OpenVPN: run the server of the router's file on device mw4" in script
    assert "# vpn2 has no gateway: give mw4 an address of your own." in script
    assert "ip route replace default dev mw4 table 7704 proto 77" in script
    assert "ip rule add priority 7710 fwmark 0x400/0xff00 lookup 7704 proto 77" in script
    assert "ip route replace 10.10.0.0/24 dev mw2 proto 77" in script
    choice = (
        "ip daddr { 10.10.0.0/24 } meta mark set numgen inc mod 4 map { 0 : 0x200, 1-3 : 0x400 }"
    )
    assert script.count(choice) == 2  # forwarded and the server's own packets
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
    ovpn = FarTunnel("vpn2", "openvpn", "mw4", 0x40000, 7704, 3, None)
    lan = ["10.10.0.0/24", "192.168.5.0/24"]
    script = render_far_end("bond", [wg, ovpn], lan, "/etc/wgX/", MarkSpace(0xFF0000))
    assert script == (Path(__file__).parent / "far_end_script.txt").read_text()
