"""Probes of every kind leave by the link they are bound to: even when all modems share
192.168.1.1 and one local address, the HTTP server sees each probe arrive through the ISP
it was meant for."""

import json
import sys
from collections.abc import Mapping, Sequence

import pytest

from multiwan.lab.configs import lab_config
from multiwan.lab.topology import HTTP_PORT, Lab
from tests.lab.conftest import LabFactory

pytestmark = pytest.mark.lab

RUN_PROBES = """
import asyncio, json, sys
from pydantic import TypeAdapter
from multiwan.config.health import Target
from multiwan.probing.binding import LinkBinding
from multiwan.probing.run import LinkProber

async def main(spec):
    out = []
    for link in spec["links"]:
        prober = LinkProber(LinkBinding(link["interface"], link["mark"], link["source"]))
        targets = [TypeAdapter(Target).validate_python(t) for t in spec["targets"]]
        results = await asyncio.gather(*(prober.probe(t, spec["timeout"]) for t in targets))
        out.append([[r.ok, r.error] for r in results])
        prober.close()
    print(json.dumps(out))

asyncio.run(main(json.loads(sys.argv[1])))
"""


def probe(
    lab: Lab, targets: Sequence[Mapping[str, object]], timeout: float = 0.5
) -> list[list[bool]]:
    """Run every target through every ISP's link inside the router; ok flags per link."""
    links = [
        {"interface": isp.router_if, "mark": isp.index << 8, "source": isp.router_address}
        for isp in lab.isps
    ]
    spec = json.dumps({"links": links, "targets": targets, "timeout": timeout})
    out = lab.router.run(sys.executable, "-c", RUN_PROBES, spec)
    return [[ok for ok, _ in results] for results in json.loads(out.stdout)]


def kinds(lab: Lab) -> list[dict[str, object]]:
    server = lab.server_ip
    return [
        {"kind": "icmp", "host": server},
        {"kind": "tcp", "host": server, "port": 80},
        {"kind": "tcp", "host": server, "port": 9},  # refused: the path works
        {"kind": "http", "url": f"http://{server}:{HTTP_PORT}/"},
        {"kind": "dns", "server": server, "query": "example.com", "expect": "192.0.2.53"},
        {"kind": "icmp", "host": lab.server_ip6},
    ]


def test_every_kind_succeeds_per_link_and_fails_where_the_isp_is_dead(lab3: Lab) -> None:
    lab3.multiwan("apply", config=lab_config(lab3, ipv6=True))
    targets = kinds(lab3)
    # IPv6 probes need the link's IPv6 source; these links bind IPv4 only, so drop it.
    # The claim is which probes succeed, not how fast: with a 0.5 s timeout, one of them
    # failed now and then on a loaded machine (load average 5-7).
    assert probe(lab3, targets[:-1], timeout=3.0) == [[True] * 5] * 3
    lab3.isps[1].blackhole()
    assert probe(lab3, targets[:-1], timeout=3.0) == [[True] * 5, [False] * 5, [True] * 5]


def test_wrong_answers_fail(lab3: Lab) -> None:
    lab3.multiwan("apply", config=lab_config(lab3))
    server = lab3.server_ip
    wrong: list[dict[str, object]] = [
        {"kind": "http", "url": f"http://{server}:{HTTP_PORT}/fail"},
        {"kind": "http", "url": f"http://{server}:{HTTP_PORT}/", "body_contains": "nope"},
        {"kind": "dns", "server": server, "query": "example.com", "expect": "192.0.2.99"},
        {"kind": "tcp", "host": server, "port": 81},  # silently dropped: a timeout
    ]
    lab3.inet.run("nft", "-f", "-", input="table inet silence {\n chain i { type filter hook "
                  "input priority 0; tcp dport 81 drop; }\n}\n")  # fmt: skip
    assert probe(lab3, wrong) == [[False] * 4] * 3


@pytest.mark.parametrize("same_address", [False, True], ids=["own-addresses", "one-address"])
def test_probes_reach_the_intended_isp_among_identical_modems(
    make_lab: LabFactory, same_address: bool
) -> None:
    lab = make_lab(plan="same-subnet", same_address=same_address)
    lab.multiwan("apply", config=lab_config(lab))
    url = f"http://{lab.server_ip}:{HTTP_PORT}/"
    targets = [
        {"kind": "http", "url": url, "body_contains": f"you are {isp.public}"} for isp in lab.isps
    ]
    assert probe(lab, targets) == [[True, False, False], [False, True, False], [False, False, True]]


def test_a_probe_on_a_link_without_routes_fails_instead_of_leaving_elsewhere(lab3: Lab) -> None:
    """isp2's table emptied (as when its routes are gone): its probes must fail, not find
    main's default route through isp1 (a probe without SO_BINDTODEVICE would, masqueraded)."""
    lab3.multiwan("apply", config=lab_config(lab3))
    lab3.router.run("ip", "route", "flush", "table", "7702")
    targets: list[dict[str, object]] = [
        {"kind": "icmp", "host": lab3.server_ip},
        {"kind": "tcp", "host": lab3.server_ip, "port": 80},
    ]
    assert probe(lab3, targets) == [[True, True], [False, False], [True, True]]


def _new_connections(lab: Lab) -> str:
    return lab.router.run("nft", "list", "counters", "table", "inet", "multiwan").stdout


def test_probes_are_never_counted_as_balanced_connections(lab3: Lab) -> None:
    """Probes carry their link's mark (SO_MARK), so `output` leaves them alone: they never
    appear in any link's new-connection counter, nor get balanced."""
    lab3.multiwan("apply", config=lab_config(lab3))
    before = _new_connections(lab3)
    targets: list[dict[str, object]] = [{"kind": "tcp", "host": lab3.server_ip, "port": 80}] * 3
    assert probe(lab3, targets) == [[True] * 3] * 3
    assert _new_connections(lab3) == before
