"""The namespace world that tests, the demo and benchmarks send real traffic through.

    client(s) --lan0-- router --wan<k>-- isp<k> --NAT--> inet (203.0.113.10, servers)

Each ISP masquerades to its own address (198.18.k.2), so the internet host's servers, which
answer with the source they see, tell which ISP carried each flow. Plans: "distinct" (ISP k
at 100.64.k.1/24) and "same-subnet" (every ISP at 192.168.1.1/24, like several modems).
Everything is deleted by `cleanup`, also when building fails half-way.

What the router's main table holds at start varies as on real routers (`main_default`):
"uplink" (a default route via ISP 1), "none" (the gateways live only in multiwan's config)
or "mgmt" (a default route via `mgmt0` to a management host that does not route to the
internet host: traffic that leaks to main's default fails at once, with an ICMP unreachable).
"""

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from multiwan.lab.isp import Isp
from multiwan.lab.netns import Netns, unique_tag

SERVER_IP = "203.0.113.10"
SERVER_IP6 = "fd00:cafe::10"
TCP_PORTS = (80, 443, 22, 8080, 5001)
UDP_PORTS = (5060, 5353)
DNS_PORT = 53
HTTP_PORT = 8081
HOLD_PORT = 7000
MGMT_GATEWAY, MGMT_ADDRESS = "172.16.99.1", "172.16.99.2"
MGMT_GATEWAY6, MGMT_ADDRESS6 = "fd00:99::1", "fd00:99::2"
CLIENT_NET6 = "fd00:10::/64"
Plan = Literal["distinct", "same-subnet"]
MainDefault = Literal["none", "uplink", "mgmt"]


@dataclass
class TrafficResult:
    """Flows per ISP (by the source the server saw) and how many failed."""

    per_isp: dict[str, int]
    failed: int
    unknown: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.per_isp.values())


@dataclass
class Lab:
    """A built world; see the module docstring."""

    prefix: str
    tag: str
    router: Netns
    clients: list[Netns]
    isps: list[Isp]
    inet: Netns
    state_dir: Path
    namespaces: list[Netns] = field(default_factory=list)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    server_ip: str = SERVER_IP
    server_ip6: str = SERVER_IP6
    main_default: MainDefault = "uplink"
    mgmt: Netns | None = None

    def isp_for_source(self, address: str) -> str | None:
        for isp in self.isps:
            if address in (isp.public, isp.public6):
                return isp.name
        return None

    def flows(
        self,
        kind: Literal["tcp", "udp"] = "tcp",
        count: int = 100,
        port: int = 80,
        client: Netns | None = None,
        dst: str = SERVER_IP,
        concurrency: int = 20,
        timeout: float = 2.0,
        bind: str | None = None,
    ) -> TrafficResult:
        """Open `count` new flows from `client` (default: the first client; `self.router` for
        the router's own traffic) to the server, from sockets bound to `bind` if given."""
        raw = self.traffic(kind, count, port, client, dst, concurrency, timeout, bind)
        per_isp: dict[str, int] = {isp.name: 0 for isp in self.isps}
        unknown: dict[str, int] = {}
        for address, n in raw["sources"].items():
            name = self.isp_for_source(address)
            if name is None:
                unknown[address] = n
            else:
                per_isp[name] += n
        return TrafficResult(per_isp, raw["failed"], unknown)

    def traffic(
        self,
        kind: str,
        count: int,
        port: int,
        client: Netns | None,
        dst: str,
        concurrency: int = 20,
        timeout: float = 2.0,
        bind: str | None = None,
    ) -> dict[str, Any]:
        """Run multiwan.lab.traffic in `client` (default: the first client); its JSON."""
        source = client or self.clients[0]
        proc = source.run(
            sys.executable, "-m", "multiwan.lab.traffic", kind, "--dst", dst,
            "--port", str(port), "--count", str(count), "--concurrency", str(concurrency),
            "--timeout", str(timeout), *(["--bind", bind] if bind else []), timeout=120,
        )  # fmt: skip
        raw: dict[str, Any] = json.loads(proc.stdout)
        return raw

    def replace_main_default(self, isp: Isp) -> None:
        """Point main's default route(s) at `isp`, as a DHCP client does on a new lease."""
        self.router.run(
            "ip", "route", "replace", "default", "via", isp.gateway, "dev", isp.router_if
        )
        if isp.gateway6:
            self.router.run(
                "ip", "-6", "route", "replace", "default", "via", isp.gateway6,
                "dev", isp.router_if,
            )  # fmt: skip

    def uplink_down(self, isp: Isp) -> None:
        """Take the router's interface to `isp` administratively down (its routes go)."""
        self.router.run("ip", "link", "set", isp.router_if, "down")

    def uplink_up(self, isp: Isp) -> None:
        self.router.run("ip", "link", "set", isp.router_if, "up")

    def multiwan(
        self,
        *args: str,
        config: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run the multiwan CLI inside the router (config text written to the state dir)."""
        argv = [sys.executable, "-m", "multiwan", "--state-dir", str(self.state_dir)]
        if config is not None:
            path = self.state_dir / "multiwan.toml"
            path.write_text(config)
            argv += ["-c", str(path)]
        return self.router.run(*argv, *args, check=check)

    def start(self, ns: Netns, *argv: str) -> subprocess.Popen[str]:
        """A background process inside `ns`, killed at cleanup."""
        proc = ns.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.processes.append(proc)
        return proc

    def serve(
        self,
        ns: Netns,
        addresses: Sequence[str],
        tcp: Sequence[int] = (),
        udp: Sequence[int] = (),
        hold: Sequence[int] = (),
        dns: int | None = None,
        http: int | None = None,
    ) -> None:
        """Start whoami/hold servers (multiwan.lab.servers) in `ns`; return once listening."""
        argv = [sys.executable, "-m", "multiwan.lab.servers"]
        for address in addresses:
            argv += ["--address", address]
        for flag, ports in (("--tcp", tcp), ("--udp", udp), ("--hold", hold)):
            if ports:
                argv += [flag, ",".join(map(str, ports))]
        for flag, port in (("--dns", dns), ("--http", http)):
            if port:
                argv += [flag, str(port)]
        proc = self.start(ns, *argv)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"servers in {ns.name} did not start: {line}{proc.stdout.read()}")

    def delete_uplink(self, isp: Isp) -> None:
        """The router's interface to `isp` disappears (a USB modem unplugged)."""
        self.router.run("ip", "link", "del", isp.router_if)

    def recreate_uplink(self, isp: Isp, router_address: str | None = None) -> None:
        """It comes back (or is plugged in for the first time after start), possibly with
        another address (DHCP on re-plug); IPv6 as built."""
        router_address = router_address or isp.router_address
        veth_pair(self.router, isp.router_if, isp.ns, "down0")
        add_address(isp.ns, "down0", f"{isp.gateway}/24")
        add_address(self.router, isp.router_if, f"{router_address}/24")
        isp.router_address = router_address
        if isp.gateway6 and isp.router_address6:
            _address_isp6(self.router, isp)

    def cleanup(self) -> None:
        for proc in self.processes:
            proc.kill()
            proc.wait()
        for ns in reversed(self.namespaces):
            ns.delete()
        shutil.rmtree(self.state_dir, ignore_errors=True)


def veth_pair(a: Netns, a_if: str, b: Netns, b_if: str) -> None:
    subprocess.run(
        ["ip", "-n", a.name, "link", "add", a_if, "type", "veth", "peer", "name", b_if,
         "netns", b.name],
        check=True, capture_output=True,
    )  # fmt: skip
    a.run("ip", "link", "set", a_if, "up")
    b.run("ip", "link", "set", b_if, "up")


def add_address(ns: Netns, dev: str, cidr: str) -> None:
    ns.run("ip", "addr", "add", cidr, "dev", dev, *(["nodad"] if ":" in cidr else []))


def _forwarding(ns: Netns) -> None:
    ns.sysctl("net.ipv4.ip_forward", "1")
    ns.sysctl("net.ipv6.conf.all.forwarding", "1")


def _build_isp(lab: Lab, k: int, plan: Plan, same_address: bool) -> Isp:
    ns = Netns(f"{lab.prefix}{lab.tag}-isp{k}")
    lab.namespaces.append(ns)
    _forwarding(ns)
    router_if = f"wan{k}"
    veth_pair(lab.router, router_if, ns, "down0")
    veth_pair(ns, "up0", lab.inet, f"isp{k}")
    gateway6: str | None = None
    router_address6: str | None = None
    if plan == "distinct":
        gateway, router_address, prefix = f"100.64.{k}.1", f"100.64.{k}.2", 24
        gateway6, router_address6 = f"fd00:64:{k}::1", f"fd00:64:{k}::2"
    else:
        gateway, prefix = "192.168.1.1", 24
        router_address = "192.168.1.100" if same_address else f"192.168.1.{10 + k}"
    add_address(ns, "down0", f"{gateway}/{prefix}")
    add_address(lab.router, router_if, f"{router_address}/{prefix}")
    public, public6 = f"198.18.{k}.2", f"fd00:18:{k}::2"
    add_address(ns, "up0", f"{public}/24")
    add_address(ns, "up0", f"{public6}/64")
    add_address(lab.inet, f"isp{k}", f"198.18.{k}.1/24")
    add_address(lab.inet, f"isp{k}", f"fd00:18:{k}::1/64")
    ns.run("ip", "route", "add", "default", "via", f"198.18.{k}.1")
    ns.run("ip", "-6", "route", "add", "default", "via", f"fd00:18:{k}::1")
    ns.run(
        "nft", "-f", "-",
        input='table inet nat {\n chain post { type nat hook postrouting priority srcnat;'
        ' oifname "up0" masquerade; }\n}\n',
    )  # fmt: skip
    isp = Isp(k, ns, router_if, gateway, router_address, public, gateway6, public6,
              router_address6)  # fmt: skip
    if gateway6:
        _address_isp6(lab.router, isp)
    return isp


def _address_isp6(router: Netns, isp: Isp) -> None:
    """IPv6 on the router-ISP link; the ISP routes the LAN prefix back to the router (as for
    a delegated prefix), so IPv6 works whether or not the router masquerades it."""
    assert isp.gateway6
    assert isp.router_address6
    add_address(isp.ns, "down0", f"{isp.gateway6}/64")
    add_address(router, isp.router_if, f"{isp.router_address6}/64")
    isp.ns.run("ip", "-6", "route", "add", CLIENT_NET6, "via", isp.router_address6)


def build_lab(
    prefix: str,
    n_isps: int = 3,
    plan: Plan = "distinct",
    n_clients: int = 1,
    same_address: bool = False,
    main_default: MainDefault = "uplink",
    rp_filter: int | None = None,
) -> Lab:
    """Build the world; on any failure everything built so far is deleted. `rp_filter`, if
    given, is the router's net.ipv4.conf.default.rp_filter before any interface exists
    (systemd sets 2): what every interface, also one plugged in later, starts with."""
    tag = unique_tag()
    router = Netns(f"{prefix}{tag}-r")
    state_dir = Path(f"/run/multiwan-lab/{prefix}{tag}")
    state_dir.mkdir(parents=True, exist_ok=True)
    lab = Lab(prefix, tag, router, [], [], router, state_dir, namespaces=[router],
              main_default=main_default)  # fmt: skip
    try:
        if rp_filter is not None:
            router.sysctl("net.ipv4.conf.default.rp_filter", str(rp_filter))
        lab.inet = Netns(f"{prefix}{tag}-inet")
        lab.namespaces.append(lab.inet)
        _populate(lab, n_isps, plan, n_clients, same_address)
    except BaseException:
        lab.cleanup()
        raise
    return lab


def _populate(lab: Lab, n_isps: int, plan: Plan, n_clients: int, same_address: bool) -> None:
    router, inet = lab.router, lab.inet
    _forwarding(router)
    router.run("ip", "link", "add", "lan0", "type", "bridge")
    router.run("ip", "link", "set", "lan0", "up")
    add_address(router, "lan0", "10.10.0.1/24")
    add_address(router, "lan0", "fd00:10::1/64")
    for i in range(1, n_clients + 1):
        client = Netns(f"{lab.prefix}{lab.tag}-c{i}")
        lab.namespaces.append(client)
        veth_pair(router, f"lanc{i}", client, "eth0")
        router.run("ip", "link", "set", f"lanc{i}", "master", "lan0")
        add_address(client, "eth0", f"10.10.0.{1 + i}/24")
        add_address(client, "eth0", f"fd00:10::{1 + i}/64")
        client.run("ip", "route", "add", "default", "via", "10.10.0.1")
        client.run("ip", "-6", "route", "add", "default", "via", "fd00:10::1")
        lab.clients.append(client)
    inet.run("ip", "addr", "add", f"{SERVER_IP}/32", "dev", "lo")
    inet.run("ip", "addr", "add", f"{SERVER_IP6}/128", "dev", "lo")
    for k in range(1, n_isps + 1):
        lab.isps.append(_build_isp(lab, k, plan, same_address))
    if lab.main_default == "uplink":
        lab.replace_main_default(lab.isps[0])
    elif lab.main_default == "mgmt":
        _build_mgmt(lab)
    _start_servers(lab)


def _build_mgmt(lab: Lab) -> None:
    """A management host on `mgmt0` holding main's default route. It forwards but has no
    route to the internet host, so whatever leaks to main's default gets unreachable."""
    mgmt = Netns(f"{lab.prefix}{lab.tag}-m")
    lab.namespaces.append(mgmt)
    lab.mgmt = mgmt
    _forwarding(mgmt)
    veth_pair(lab.router, "mgmt0", mgmt, "eth0")
    add_address(mgmt, "eth0", f"{MGMT_GATEWAY}/24")
    add_address(mgmt, "eth0", f"{MGMT_GATEWAY6}/64")
    add_address(lab.router, "mgmt0", f"{MGMT_ADDRESS}/24")
    add_address(lab.router, "mgmt0", f"{MGMT_ADDRESS6}/64")
    lab.router.run("ip", "route", "add", "default", "via", MGMT_GATEWAY, "dev", "mgmt0")
    lab.router.run("ip", "-6", "route", "add", "default", "via", MGMT_GATEWAY6, "dev", "mgmt0")


def _start_servers(lab: Lab) -> None:
    lab.serve(lab.inet, [SERVER_IP, SERVER_IP6], TCP_PORTS, UDP_PORTS, (HOLD_PORT,),
              dns=DNS_PORT, http=HTTP_PORT)  # fmt: skip


@contextlib.contextmanager
def lab_world(
    prefix: str,
    n_isps: int = 3,
    plan: Plan = "distinct",
    n_clients: int = 1,
    same_address: bool = False,
    main_default: MainDefault = "uplink",
    rp_filter: int | None = None,
) -> Iterator[Lab]:
    """`build_lab` as a context manager that always cleans up."""
    lab = build_lab(prefix, n_isps, plan, n_clients, same_address, main_default, rp_filter)
    try:
        yield lab
    finally:
        lab.cleanup()
