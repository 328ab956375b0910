"""The strategies with real traffic, one lab and one daemon for the module: round-robin's
exact turns, the destination and source hashes' stickiness and their consistency when a
link is taken out (only its addresses move, and they come back).

Which link a flow took is read from its conntrack mark on the router (one entry per flow,
so hundreds of destinations need no servers behind them)."""

import ipaddress
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from multiwan.lab.bonded import SINK_PORT, bonded_config, build_bonded_lab
from multiwan.lab.configs import lab_config
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.longflow import LongFlow
from multiwan.lab.topology import HOLD_PORT, SERVER_IP, Lab, TrafficResult, build_lab
from tests.conftest import TEST_PREFIX
from tests.lab.shares import assert_shares

pytestmark = pytest.mark.lab

WEIGHTS = {"isp1": 1, "isp2": 2, "isp3": 3}
#: Sources the client owns for the `source` policy (AnyIP: a local route, no addresses).
SOURCES = ipaddress.ip_network("10.10.1.0/24")
DESTINATIONS = [str(a) for a in ipaddress.ip_network("198.51.100.0/23")]
DESTINATIONS6 = [str(ipaddress.ip_address("fd00:77::") + i) for i in range(1, 257)]
SPRAY_PORT = 9  # nothing listens: the router's conntrack entry is the record
RR_PORT = 5001
STICKY_PORT, STICKY_TIMEOUT = 10, 8  # seconds: room for a loaded machine between sprays
ROUTE_PORT = 443


def _members() -> str:
    return ", ".join(f'{{ link = "{isp}", weight = {w} }}' for isp, w in WEIGHTS.items())


def strategies_config(lab: Lab) -> str:
    extra = f"""
[policies.turns]
strategy = "round-robin"
links = [{_members()}]

[policies.servers]
strategy = "destination"
links = [{_members()}]

[policies.clients]
strategy = "source"
links = [{_members()}]

[policies.sessions]
strategy = "sticky"
sticky_timeout = {STICKY_TIMEOUT}
links = [{_members()}]

[policies.ecmp]
strategy = "route"
hash_policy = "l4"
links = [{_members()}]

[[rules]]
proto = "tcp"
dport = [{RR_PORT}]
via = "turns"

[[rules]]
proto = "tcp"
dport = [{ROUTE_PORT}, {HOLD_PORT}]
via = "ecmp"

[[rules]]
proto = "udp"
dport = [{STICKY_PORT}]
via = "sessions"

[[rules]]
dst = ["198.51.100.0/23", "fd00:77::/64"]
via = "servers"

[[rules]]
src = ["{SOURCES}"]
via = "clients"
"""
    return lab_config(lab, ipv6=True, extra=extra)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    lab = build_lab(TEST_PREFIX)
    try:
        lab.clients[0].run("ip", "route", "add", "local", str(SOURCES), "dev", "lo")
        lab.router.run("ip", "route", "add", str(SOURCES), "via", "10.10.0.2")
        yield lab
    finally:
        lab.cleanup()


@pytest.fixture(scope="module")
def daemon(lab: Lab) -> Iterator[LabDaemon]:
    with LabDaemon(lab, strategies_config(lab)) as running:
        yield running


def chosen(lab: Lab, port: int, key: str) -> dict[str, str]:
    """The link of each flow to `port` in the router's conntrack, by its `key` (src or dst);
    a key whose flows took different links maps to all of them (`isp1,isp2`)."""
    links: dict[str, set[str]] = {}
    listed = [
        lab.router.run("conntrack", "-L", "-f", family, "-p", "udp", "--dport", str(port)).stdout
        for family in ("ipv4", "ipv6")
    ]
    for line in "".join(listed).splitlines():
        address = re.search(rf"\b{key}=(\S+)", line)
        mark = re.search(r"\bmark=(\d+)", line)
        if address and mark:
            links.setdefault(address[1], set()).add(f"isp{(int(mark[1]) & 0xFF00) >> 8}")
    return {address: ",".join(sorted(isps)) for address, isps in links.items()}


def spray(lab: Lab, dsts: list[str], binds: list[str] | None = None, port: int = SPRAY_PORT,
          count: int = 0, forget: bool = True) -> None:  # fmt: skip
    """One UDP datagram per destination (or per source; `count` in all if given), after
    forgetting every flow unless `forget` is false."""
    if forget:
        lab.router.run("conntrack", "-F", check=False)
    count = count or max(len(dsts), len(binds or []))
    lab.traffic("udp", count, port, None, ",".join(dsts), concurrency=256,
                timeout=0.3, bind=",".join(binds) if binds else None)  # fmt: skip


def shares(links: dict[str, str]) -> TrafficResult:
    counted = Counter(links.values())
    return TrafficResult({isp: counted[isp] for isp in WEIGHTS}, failed=0)


def test_round_robin_takes_the_links_in_turn_by_weight(lab: Lab, daemon: LabDaemon) -> None:
    result = lab.flows(count=300, port=RR_PORT, concurrency=10)
    assert result.per_isp == {"isp1": 50, "isp2": 100, "isp3": 150}, result
    # The rule that sent them counted each new connection once (rules[0] in the config).
    listed = lab.router.run("nft", "-j", "list", "counter", "inet", "multiwan", "rule_0")
    assert json.loads(listed.stdout)["nftables"][1]["counter"]["packets"] == 300
    # ... and `status` shows it (the counters are read once a second).
    deadline = time.monotonic() + 5
    while (hits := rule_hits(lab)) != 300 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert hits == 300


def rule_hits(lab: Lab, index: int = 0) -> int:
    status = json.loads(lab.multiwan("status", "--json").stdout)
    return int(status["rules"][index]["connections"])


def test_route_lets_the_kernel_hash_flows_over_the_live_links_by_weight(
    lab: Lab, daemon: LabDaemon
) -> None:
    assert lab.router.run("sysctl", "-n", "net.ipv4.fib_multipath_hash_policy").stdout == "1\n"
    assert_shares(lab.flows(count=600, port=ROUTE_PORT, concurrency=30), WEIGHTS)
    lab.multiwan("link", "drain", "isp2")
    try:
        without = lab.flows(count=300, port=ROUTE_PORT, concurrency=30)
    finally:
        lab.multiwan("link", "undrain", "isp2")
    assert_shares(without, {"isp1": 1, "isp3": 3})


def test_route_keeps_each_established_flow_on_its_link_when_the_group_changes(
    lab: Lab, daemon: LabDaemon
) -> None:
    """The kernel's multipath hash picks a connection's link once; a changed group (a link
    drained or dead) re-partitions the hash space, which would move established flows of
    healthy links onto another link and NAT address. Each connection is pinned to the link
    its first packet left by, so none moves."""
    flows = [LongFlow(lab.clients[0]).__enter__() for _ in range(9)]
    try:
        before = [flow.sources() for flow in flows]
        assert len(set().union(*before)) >= 2  # the flows are spread
        lab.multiwan("link", "drain", "isp2")
        try:
            for flow in flows:
                flow.wait_replies(10)
        finally:
            lab.multiwan("link", "undrain", "isp2")
        assert [flow.broken() for flow in flows] == [False] * len(flows)
        assert [flow.sources() for flow in flows] == before
    finally:
        for flow in flows:
            flow.__exit__(None, None, None)


def by_destination(lab: Lab) -> dict[str, str]:
    spray(lab, DESTINATIONS + DESTINATIONS6)
    return chosen(lab, SPRAY_PORT, "dst")


def by_source(lab: Lab) -> dict[str, str]:
    sources = [str(a) for a in SOURCES.hosts()]
    spray(lab, [lab.server_ip], sources)
    return chosen(lab, SPRAY_PORT, "src")


@pytest.mark.parametrize("measure", [by_destination, by_source], ids=["destination", "source"])
def test_hashed_addresses_keep_their_link_and_only_a_dead_links_move(
    lab: Lab, daemon: LabDaemon, measure: Callable[[Lab], dict[str, str]]
) -> None:
    first = measure(lab)
    assert len(first) >= 250, first
    assert_shares(shares(first), WEIGHTS)
    assert measure(lab) == first  # the same address, the same link, flow after flow
    lab.multiwan("link", "drain", "isp2")
    try:
        without = measure(lab)
    finally:
        lab.multiwan("link", "undrain", "isp2")
    moved = {a for a in first if without.get(a) != first[a]}
    assert moved == {a for a, isp in first.items() if isp == "isp2"}
    assert "isp2" not in without.values()
    assert_shares(shares({a: without[a] for a in moved}), {"isp1": 1, "isp3": 3})
    assert measure(lab) == first  # back where they were


def by_sticky_source(lab: Lab) -> dict[str, str]:
    """Three flows from each source (new connections: distinct source ports)."""
    sources = [str(a) for a in SOURCES.hosts()]
    spray(lab, [lab.server_ip], sources, STICKY_PORT, count=3 * len(sources))
    return chosen(lab, STICKY_PORT, "src")


def test_sticky_keeps_a_sources_link_while_it_returns_and_forgets_it_after_the_timeout(
    lab: Lab, daemon: LabDaemon
) -> None:
    first = by_sticky_source(lab)
    assert len(first) >= 250, first
    assert set(first.values()) == set(WEIGHTS), first  # one link per source, all used
    assert_shares(shares(first), WEIGHTS)
    for _ in range(2):  # new connections within the window refresh it
        time.sleep(STICKY_TIMEOUT / 4)
        assert by_sticky_source(lab) == first
    time.sleep(STICKY_TIMEOUT * 1.25)
    later = by_sticky_source(lab)
    changed = sum(later[a] != first[a] for a in first)
    assert changed > len(first) * 0.3, "the window expired: a fresh weighted choice"


def test_sticky_never_reuses_a_drained_links_entries(lab: Lab, daemon: LabDaemon) -> None:
    first = by_sticky_source(lab)
    lab.multiwan("link", "drain", "isp2")
    try:
        drained = by_sticky_source(lab)
    finally:
        lab.multiwan("link", "undrain", "isp2")
    assert "isp2" not in ",".join(drained.values())
    assert {a for a in first if drained[a] != first[a]} == {
        a for a, isp in first.items() if isp == "isp2"
    }
    assert by_sticky_source(lab) == drained  # the new choice sticks when isp2 returns


#: One TCP flow of small paced writes: each leaves as its own packet (no segmentation
#: offload merges them), so the router decides each.
SEND = """
import socket, time
with socket.create_connection(("{dst}", {port}), timeout=10) as sock:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range({writes}):
        sock.sendall(b"x" * 1000)
        time.sleep(0.0005)
"""


def tx_packets(lab: Lab, interface: str) -> int:
    shown = lab.router.run("ip", "-s", "-j", "link", "show", interface).stdout
    return int(json.loads(shown)[0]["stats64"]["tx"]["packets"])


def test_packet_spreads_one_tcp_flows_packets_over_every_link_by_weight() -> None:
    lab = build_bonded_lab(TEST_PREFIX)
    try:
        lab.multiwan("apply", config=bonded_config([1, 3]))
        before = [tx_packets(lab, f"wan{k}") for k in (1, 2)]
        send = SEND.format(dst=SERVER_IP, port=SINK_PORT, writes=1500)
        lab.clients[0].run(sys.executable, "-c", send)  # fails if the flow breaks
        sent = [tx_packets(lab, f"wan{k}") - before[k - 1] for k in (1, 2)]
        conntrack = lab.router.run("conntrack", "-L", "-p", "tcp", "--dport", str(SINK_PORT))
        assert conntrack.stdout.count("\n") == 1, conntrack.stdout  # one flow
    finally:
        lab.cleanup()
    assert min(sent) > 200, sent
    share = sent[1] / sum(sent)
    assert abs(share - 0.75) < 0.05, sent


def test_flush_restores_the_multipath_hash_policy_a_route_policy_set() -> None:
    lab = build_bonded_lab(TEST_PREFIX)
    try:
        routed = bonded_config([1, 1]).replace('"packet"', '"route"\nhash_policy = "l4"')
        key = "net.ipv4.fib_multipath_hash_policy"
        lab.multiwan("apply", config=routed)
        assert lab.router.run("sysctl", "-n", key).stdout == "1\n"
        lab.multiwan("flush", config=routed)
        assert lab.router.run("sysctl", "-n", key).stdout == "0\n"
    finally:
        lab.cleanup()


def test_a_rule_matches_a_set_others_fill_and_its_elements_survive_a_new_table() -> None:
    lab = build_bonded_lab(TEST_PREFIX)
    try:
        config = bonded_config([1, 1]).replace('"packet"', '"balance"')
        config += '\n[[rules]]\ndst_set = "wired"\nvia = "isp2"\n'
        lab.multiwan("apply", config=config)
        # What dnsmasq's nftset= does on a lookup of a "wired" domain:
        element = f"{{ {SERVER_IP} }}"
        lab.router.run("nft", "add", "element", "inet", "multiwan", "wired_v4", element)
        for other in ("198.51.100.0/24", "198.51.101.0/24", None):
            spray(lab, [SERVER_IP] * 40)
            assert set(chosen(lab, SPRAY_PORT, "sport").values()) == {"isp2"}
            if other:  # a config change: the table is replaced, the set's elements kept
                config += f'\n[[rules]]\ndst = ["{other}"]\nvia = "isp1"\n'
                changed = lab.multiwan("apply", config=config)
                assert "replace table" in changed.stdout, changed.stdout
    finally:
        lab.cleanup()
