"""`multiwan server-config` applied on the lab's server: one TCP download is striped back
over both tunnels by the policy's weights (keeping other software's mark bits), and the
router stripes its uploads likewise; a static-key OpenVPN tunnel's server is started by the
script itself."""

import sys
from pathlib import Path

import pytest

from multiwan.lab.daemon import LabDaemon
from multiwan.lab.netns import Netns
from multiwan.lab.topology import SERVER_IP, Lab
from multiwan.lab.tunnels import bonded_tunnels, tunnels_config
from tests.lab.conftest import LabFactory
from tests.lab.test_tunnels import up, wait_until

pytestmark = pytest.mark.lab

PORT, SIZE = 9100, 8_000_000
#: Sends SIZE bytes to every connection, then closes it.
SENDER = f"""
import socket
server = socket.create_server(("{SERVER_IP}", {PORT}))
while True:
    conn, _ = server.accept()
    conn.sendall(b"x" * {SIZE})
    conn.close()
"""
RECEIVER = f"""
import socket
conn = socket.create_connection(("{SERVER_IP}", {PORT}), timeout=20)
total = 0
while chunk := conn.recv(1 << 16):
    total += len(chunk)
print(total)
"""


def tx_packets(ns: Netns, device: str) -> int:
    """Packets `device` (in `ns`) sent, from `ip -s` (sysfs shows the root namespace's)."""
    out = ns.run("ip", "-s", "-o", "link", "show", device).stdout
    return int(out.split("TX:")[1].split("\\")[1].split()[1])


def test_server_config_stripes_the_return_path_by_weight(make_lab: LabFactory) -> None:
    lab: Lab = make_lab(n_isps=2)
    ends, keys = bonded_tunnels(lab, 2)
    config = tunnels_config(lab, ends, "packet", weights=[1, 2])
    prefix = f"mws{lab.tag}"
    script = lab.multiwan("server-config", "--key-dir", str(keys), "--device-prefix", prefix,
                          config=config).stdout  # fmt: skip
    assert "numgen inc mod 3 vmap { 0 : goto mark_vpn1, 1-2 : goto mark_vpn2 }" in script
    assert "ip daddr { 10.10.0.0/24 }" in script  # the router's LAN, found by itself
    lab.inet.run("nft", "-f", "-", input=OTHER_SOFTWARE)
    lab.inet.run("sh", "-c", script)
    lab.inet.run("sh", "-c", script)  # again: nothing fails, nothing doubles
    assert lab.inet.run("ip", "rule").stdout.count("lookup 7711") == 1
    lab.start(lab.inet, sys.executable, "-c", SENDER)
    with LabDaemon(lab, config):
        wait_until(lambda: up(lab, "vpn1", "vpn2"))
        devices = [end.server_interface for end in ends]
        before = [tx_packets(lab.inet, d) for d in devices]
        uploads = [tx_packets(lab.router, end.interface) for end in ends]
        got = lab.clients[0].run(sys.executable, "-c", RECEIVER, timeout=60).stdout
        assert int(got) == SIZE  # one flow, complete despite the reordering
        sent = [tx_packets(lab.inet, d) - b for d, b in zip(devices, before, strict=True)]
        share = sent[1] / sum(sent)
        assert 0.55 < share < 0.78, sent  # weight 2 of 3 (0.67)
        acks = [tx_packets(lab.router, e.interface) - u for e, u in zip(ends, uploads, strict=True)]
        assert min(acks) > 0, acks  # the router stripes its side of the flow too
    kept, lost = (counter(lab.inet, name) for name in ("kept", "lost"))
    assert kept > sum(sent) // 2, (kept, sent)  # other software's bit 0x1 stays
    assert lost == 0, lost


#: Another program's mark bit (0x1, outside multiwan's mask) on the server's packets towards
#: the LAN, set before multiwan_far's chain, and counters of whether it survived it.
OTHER_SOFTWARE = """
table inet other {
    counter kept { }
    counter lost { }
    chain output {
        type filter hook output priority mangle - 10; policy accept;
        ip daddr 10.10.0.0/24 meta mark set meta mark | 0x1
    }
    chain postrouting {
        type filter hook postrouting priority 0; policy accept;
        ip daddr 10.10.0.0/24 meta mark & 0xff00 != 0 meta mark & 0x1 == 0x1 counter name "kept"
        ip daddr 10.10.0.0/24 meta mark & 0x1 == 0 counter name "lost"
    }
}
"""


def counter(ns: Netns, name: str) -> int:
    out = ns.run("nft", "list", "counter", "inet", "other", name).stdout
    return int(out.split("packets")[1].split()[0])


def test_server_config_starts_a_static_key_openvpn_server_and_stripes_over_it(
    make_lab: LabFactory,
) -> None:
    lab: Lab = make_lab(n_isps=2)
    ends, keys = bonded_tunnels(lab, 2, ["wireguard", "openvpn"])
    config = tunnels_config(lab, ends, "packet", weights=[1, 1])
    prefix = f"mws{lab.tag}"
    done = lab.multiwan("server-config", "--key-dir", str(keys), "--device-prefix", prefix,
                        config=config)  # fmt: skip
    assert "COMPLETE" not in done.stdout
    assert done.stderr == ""  # nothing left to the user
    lab.inet.run("sh", "-c", done.stdout)
    lab.inet.run("sh", "-c", done.stdout)  # again: the server runs once, nothing fails
    servers = lab.inet.run("ip", "netns", "pids", lab.inet.name, check=False)
    assert servers.returncode == 0
    openvpn = [p for p in servers.stdout.split() if _is_openvpn(int(p), ends[1].server_interface)]
    assert len(openvpn) == 1, openvpn
    lab.start(lab.inet, sys.executable, "-c", SENDER)
    with LabDaemon(lab, config):
        wait_until(lambda: up(lab, "vpn1", "vpn2"))
        devices = [end.server_interface for end in ends]
        before = [tx_packets(lab.inet, d) for d in devices]
        got = lab.clients[0].run(sys.executable, "-c", RECEIVER, timeout=60).stdout
        assert int(got) == SIZE
        sent = [tx_packets(lab.inet, d) - b for d, b in zip(devices, before, strict=True)]
        assert min(sent) > sum(sent) // 4, sent  # both tunnels carried the download


def _is_openvpn(pid: int, device: str) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return argv[0].endswith(b"openvpn") and device.encode() in argv


#: Turns GRO on for one interface of the namespace it runs in (ethtool -K IF gro on).
GRO_ON = """
import sys
from pyroute2 import Ethtool
ethtool = Ethtool()
features = ethtool.get_features(sys.argv[1])
features.features["rx-gro"].enable = True
ethtool.set_features(sys.argv[1], features)
"""


def test_check_and_plan_warn_about_gro_on_the_lan_under_a_packet_policy(
    make_lab: LabFactory,
) -> None:
    """GRO merges what a LAN port receives before nft sees it: `check` and `plan` name the
    port (the LAN bridge's, where packets are received) once GRO is on, not before."""
    lab: Lab = make_lab(n_isps=2)
    links = [f'[links.{i.name}]\ninterface = "{i.router_if}"\ngateway = "{i.gateway}"\n'
             for i in lab.isps]  # fmt: skip
    config = (
        'default_policy = "bond"\n' + "".join(links)
        + '[policies.bond]\nstrategy = "packet"\nlinks = ["isp1", "isp2"]\n'
    )  # fmt: skip
    before = lab.multiwan("check", config=config)
    assert "GRO" not in before.stderr  # veths: GRO off
    lab.router.run(sys.executable, "-c", GRO_ON, "lanc1")
    done = lab.multiwan("check", config=config)
    assert ": policies.bond.strategy: warning: GRO is on on lanc1: " in done.stderr, done.stderr
    assert "turn it off: ethtool -K lanc1 gro off\n" in done.stderr
    assert len(done.stderr.splitlines()) == len(before.stderr.splitlines()) + 1
    assert "GRO is on on lanc1" in lab.multiwan("plan", config=config).stderr
    balance = config.replace('strategy = "packet"', 'strategy = "balance"')
    assert "GRO" not in lab.multiwan("check", config=balance).stderr  # connections: no matter
