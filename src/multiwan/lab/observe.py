"""Observations that the internet host's whoami servers cannot make: which ISP carried a
ping, which modem at a shared gateway address answered, and the router's reverse-path drops.
"""

import itertools
import json
from collections.abc import Sequence

from multiwan.core.ownership import NFT_FAMILY, NFT_TABLE, ROUTE_PROTO
from multiwan.lab.backends import BackendHost, greetings, start_backend
from multiwan.lab.netns import Netns
from multiwan.lab.topology import SERVER_IP, Lab, TrafficResult

#: Each ISP's gateway address answers here with the ISP's name (a modem's web interface).
GATEWAY_PORT = 8088


def pings(
    lab: Lab, count: int = 30, client: Netns | None = None, dst: str = SERVER_IP,
    bind: str | None = None,
) -> TrafficResult:  # fmt: skip
    """`count` single echo requests (each its own conntrack entry, as `ping -c 1 -I bind`);
    the internet host counts the requests per ISP by the interface they arrive on."""
    lab.inet.run("nft", "delete table inet pings", check=False)
    counters = "".join(f" counter {isp.name} {{ }}\n" for isp in lab.isps)
    rules = "".join(
        f' iifname "{isp.name}" icmp type echo-request counter name "{isp.name}"\n'
        f' iifname "{isp.name}" icmpv6 type echo-request counter name "{isp.name}"\n'
        for isp in lab.isps
    )
    lab.inet.run(
        "nft", "-f", "-",
        input=f"table inet pings {{\n{counters} chain input {{ type filter hook input"
        f" priority 0;\n{rules} }}\n}}\n",
    )  # fmt: skip
    raw = lab.traffic("ping", count, 0, client, dst, bind=bind)
    listing = json.loads(lab.inet.run("nft", "-j", "list", "counters").stdout)
    per_isp = {
        item["counter"]["name"]: item["counter"]["packets"]
        for item in listing["nftables"]
        if "counter" in item and item["counter"]["table"] == "pings"
    }
    return TrafficResult(per_isp, raw["failed"])


def serve_gateways(lab: Lab) -> None:
    """Each ISP's gateway address answers on GATEWAY_PORT with a greeting naming the ISP."""
    for isp in lab.isps:
        start_backend(lab, BackendHost(isp.name, isp.ns, isp.gateway), GATEWAY_PORT)


def modem_answers(
    lab: Lab, count: int = 10, client: Netns | None = None, dst: str = "192.168.1.1"
) -> TrafficResult:
    """Connect `count` times to `dst`:GATEWAY_PORT: which ISP's gateway answered each."""
    names, failed = greetings(client or lab.clients[0], count, dst, GATEWAY_PORT)
    per_isp = {isp.name: names.pop(isp.name, 0) for isp in lab.isps}
    return TrafficResult(per_isp, failed, dict(names))


def rp_filter_drops(lab: Lab) -> int:
    """Packets the router dropped in reverse-path filtering (TcpExtIPReversePathFilter)."""
    lines = lab.router.run("cat", "/proc/net/netstat").stdout.splitlines()
    for names, values in itertools.pairwise(lines):
        if names.startswith("TcpExt:") and values.startswith("TcpExt:"):
            counters = dict(zip(names.split(), values.split(), strict=True))
            return int(counters["IPReversePathFilter"])
    raise RuntimeError("no TcpExt counters in /proc/net/netstat")


def foreign_state(lab: Lab) -> dict[str, str]:
    """The router's state that multiwan does not own: rules without its protocol tag, the
    main table, nft tables other than its own, and the interface sysctls (less the ones
    `owned_sysctls` names). A fault must never change any of it."""
    run = lab.router.run
    rules = {
        family: "\n".join(
            line for line in run("ip", family, "rule").stdout.splitlines()
            if not line.endswith(f"proto {ROUTE_PROTO}")
        )
        for family in ("-4", "-6")
    }  # fmt: skip
    tables = [line for line in run("nft", "list", "tables").stdout.splitlines()
              if line != f"table {NFT_FAMILY} {NFT_TABLE}"]  # fmt: skip
    nft = "\n".join(run("nft", "list", *line.split()).stdout for line in tables)
    sysctls = run("sysctl", "-a", "--pattern", r"^net\.ipv[46]\.(conf\.|ip_forward)").stdout
    main = "\n".join(
        line
        for family in ("-4", "-6")
        for line in run("ip", family, "route", "show", "table", "main").stdout.splitlines()
        if not line.startswith("fe80:")  # the kernel adds these when DAD completes
    )
    return {**rules, "main": main, "nft": nft, "sysctls": sysctls}


def owned_sysctls(lab: Lab, via: Sequence[str] = ()) -> set[str]:
    """The sysctls multiwan changed, from its journal (dotted, as `sysctl` prints them);
    `via` runs the reader elsewhere (`nsenter -m` into a daemon's own mount namespace)."""
    journal = lab.state_dir / "sysctl-originals.json"
    try:
        keys = json.loads(lab.router.run(*via, "cat", str(journal), check=False).stdout)
    except ValueError:
        return set()
    return {key.replace("/", ".") for key in keys}
