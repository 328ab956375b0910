"""Service backends behind the lab router: namespaces on a server LAN (10.20.0.0/24 on the
router's `srv0` bridge), each running an SMTP-like server that greets with its own name (and
optionally a UDP server that answers with it), so a test can tell which backend took each
connection."""

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass

from multiwan.lab.netns import Netns
from multiwan.lab.topology import Lab, add_address, veth_pair

VIP = "198.51.100.25"
SERVER_LAN = "10.20.0"


@dataclass
class BackendHost:
    name: str
    ns: Netns
    address: str
    proc: subprocess.Popen[str] | None = None
    udp: int | None = None  # port of its UDP server, if any

    def blackhole(self) -> None:
        """The host stops answering anything (no RST, no ICMP): checks time out."""
        self.ns.run("nft", "-f", "-", input="table inet dead {\n chain in { type filter hook "
                    "input priority -10; drop; }\n}\n")  # fmt: skip

    def revive(self) -> None:
        self.ns.run("nft", "delete table inet dead", check=False)


def add_backends(lab: Lab, count: int, port: int = 25, udp: int | None = None) -> list[BackendHost]:
    """`count` backends b1..bN at 10.20.0.11.. behind the router; servers started (SMTP on
    `port`, and a UDP server on `udp` if given)."""
    router = lab.router
    router.run("ip", "link", "add", "srv0", "type", "bridge")
    router.run("ip", "link", "set", "srv0", "up")
    add_address(router, "srv0", f"{SERVER_LAN}.1/24")
    hosts = []
    for i in range(1, count + 1):
        ns = Netns(f"{lab.prefix}{lab.tag}-b{i}")
        lab.namespaces.append(ns)
        veth_pair(router, f"srvb{i}", ns, "eth0")
        router.run("ip", "link", "set", f"srvb{i}", "master", "srv0")
        address = f"{SERVER_LAN}.{10 + i}"
        add_address(ns, "eth0", f"{address}/24")
        ns.run("ip", "route", "add", "default", "via", f"{SERVER_LAN}.1")
        host = BackendHost(f"b{i}", ns, address, udp=udp)
        start_backend(lab, host, port)
        hosts.append(host)
    return hosts


def start_backend(lab: Lab, host: BackendHost, port: int = 25) -> None:
    """(Re)start the host's server; returns once it listens."""
    host.proc = lab.start(
        host.ns, sys.executable, "-m", "multiwan.lab.servers", "--address", host.address,
        "--smtp", str(port), "--name", host.name,
        *(["--named-udp", str(host.udp)] if host.udp else []),
    )  # fmt: skip
    assert host.proc.stdout is not None
    if host.proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"backend {host.name} did not start")


def kill_backend(host: BackendHost) -> None:
    """The server process dies; the host lives on and refuses the port (RST)."""
    assert host.proc is not None
    host.proc.kill()
    host.proc.wait()


def greetings(
    client: Netns,
    count: int,
    dst: str = VIP,
    port: int = 25,
    concurrency: int = 20,
    kind: str = "tcp",
) -> tuple[Counter[str], int]:
    """Open `count` connections (or UDP exchanges); which backend answered each, and how
    many failed."""
    out = client.run(
        sys.executable, "-m", "multiwan.lab.traffic", kind, "--dst", dst, "--port", str(port),
        "--count", str(count), "--concurrency", str(concurrency), "--timeout", "2",
        timeout=120,
    )  # fmt: skip
    raw = json.loads(out.stdout)
    names: Counter[str] = Counter()
    for line, n in raw["sources"].items():
        names[line.split()[1 if kind == "tcp" else 0]] += n
    return names, raw["failed"]
