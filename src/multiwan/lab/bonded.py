"""A lab world whose uplinks end at one far end, for the `packet` strategy:

    client --lan0-- router --wan1..wanN-- far (203.0.113.10)

Each uplink is its own subnet (100.64.k.0/24) to the same host, which routes the LAN back
through the first one and does no reverse-path filtering, as a tunnel concentrator would:
packets of one flow may arrive over any uplink. Nothing is masqueraded, so every packet of a
flow carries the client's own address whichever link it took.
"""

import sys
from pathlib import Path

from multiwan.lab.netns import Netns, unique_tag
from multiwan.lab.topology import SERVER_IP, Lab, add_address, veth_pair

#: Accepts TCP connections on `SINK_PORT` and reads them to the end.
SINK = """
import socket, threading
server = socket.create_server(("0.0.0.0", {port}))
def drain(conn):
    while conn.recv(65536):
        pass
    conn.close()
while True:
    conn, _ = server.accept()
    threading.Thread(target=drain, args=(conn,), daemon=True).start()
"""
SINK_PORT = 9000


def build_bonded_lab(prefix: str, n_links: int = 2) -> Lab:
    """The world above as a `Lab` (its `isps` empty, `inet` the far end); on any failure
    everything built so far is deleted."""
    tag = unique_tag()
    router = Netns(f"{prefix}{tag}-r")
    state_dir = Path(f"/run/multiwan-lab/{prefix}{tag}")
    state_dir.mkdir(parents=True, exist_ok=True)
    lab = Lab(prefix, tag, router, [], [], router, state_dir, namespaces=[router])
    try:
        far = lab.inet = Netns(f"{prefix}{tag}-far")
        client = Netns(f"{prefix}{tag}-c1")
        lab.namespaces += [far, client]
        lab.clients.append(client)
        router.sysctl("net.ipv4.ip_forward", "1")
        veth_pair(router, "lan0", client, "eth0")
        add_address(router, "lan0", "10.10.0.1/24")
        add_address(client, "eth0", "10.10.0.2/24")
        client.run("ip", "route", "add", "default", "via", "10.10.0.1")
        for key in ("all", "default"):
            far.sysctl(f"net.ipv4.conf.{key}.rp_filter", "0")
        for k in range(1, n_links + 1):
            veth_pair(router, f"wan{k}", far, f"down{k}")
            add_address(far, f"down{k}", f"100.64.{k}.1/24")
            add_address(router, f"wan{k}", f"100.64.{k}.2/24")
        far.run("ip", "addr", "add", f"{SERVER_IP}/32", "dev", "lo")
        far.run("ip", "route", "add", "10.10.0.0/24", "via", "100.64.1.2")
        lab.start(far, sys.executable, "-c", SINK.format(port=SINK_PORT))
        connect = f"import socket; socket.create_connection(('{SERVER_IP}', {SINK_PORT}), 1)"
        far.wait_for([sys.executable, "-c", connect])
    except BaseException:
        lab.cleanup()
        raise
    return lab


def bonded_config(weights: list[int]) -> str:
    """Links isp1..ispN over wan1..wanN, unmasqueraded, in one `packet` policy."""
    lines = ['default_policy = "bond"', ""]
    for k, weight in enumerate(weights, start=1):
        lines += [
            f"[links.isp{k}]",
            f'interface = "wan{k}"',
            f'gateway = "100.64.{k}.1"',
            f"weight = {weight}",
            "masquerade = false",
            "",
        ]
    members = ", ".join(f'"isp{k}"' for k in range(1, len(weights) + 1))
    return "\n".join([*lines, "[policies.bond]", 'strategy = "packet"', f"links = [{members}]"])
