"""What a router's other software relies on (issue 8, items 2, 3 and 5-8), with real
traffic: sockets bound to a link's address leave by that link; a `via` rule reaches the
modem behind its link although all modems share one address; other software's mark bits
and `ip rule`s survive; last-resort connections move back when a link returns; `apply` and
`flush` while the daemon runs never put a dead link back.
"""

import json
import re
import time

import pytest

from multiwan.lab.configs import lab_config, probe_health
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.longflow import LongFlow
from multiwan.lab.observe import modem_answers, pings, serve_gateways
from multiwan.lab.topology import SERVER_IP, Lab, Plan, TrafficResult
from tests.lab.conftest import LabFactory

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("plan", ["distinct", "same-subnet"])
def test_sockets_bound_to_a_link_address_leave_by_that_link(
    make_lab: LabFactory, plan: Plan
) -> None:
    """`ping -I <address>`, a UDP socket and a TCP connect bound to link 2's address (a
    tunnel endpoint's `local <address>`): every one leaves by link 2, none is balanced."""
    lab = make_lab(plan=plan)
    lab.multiwan("apply", config=lab_config(lab))
    address = lab.isps[1].router_address
    results: dict[str, TrafficResult] = {
        "ping -I": pings(lab, count=30, client=lab.router, bind=address),
        "udp": lab.flows("udp", count=30, port=5353, client=lab.router, bind=address),
        "tcp": lab.flows("tcp", count=30, client=lab.router, bind=address),
    }
    wrong = {
        what: result
        for what, result in results.items()
        if result.failed or result.per_isp != {"isp1": 0, "isp2": 30, "isp3": 0}
    }
    assert not wrong, f"bound to {address}, not all left by isp2: {wrong}"


def test_via_rule_reaches_the_modem_behind_its_link(make_lab: LabFactory) -> None:
    """Three modems all at 192.168.1.1: a rule for that address via isp2 reaches modem 2's
    web interface, from the LAN and from the router."""
    lab = make_lab(plan="same-subnet")
    serve_gateways(lab)
    rule = '\n[[rules]]\nname = "modem2"\ndst = ["192.168.1.1/32"]\nvia = "isp2"\n'
    lab.multiwan("apply", config=lab_config(lab, extra=rule))
    for what, client in (("forwarded", lab.clients[0]), ("router", lab.router)):
        result = modem_answers(lab, count=10, client=client)
        assert result.failed == 0, (what, result)
        assert result.per_isp == {"isp1": 0, "isp2": 10, "isp3": 0}, (what, result)


#: Another program's table on the router: it sets mark bit 0x1 on every packet before
#: multiwan's chains run, and counts at the very end how many still carry it.
OTHER_MARKS = f"""table inet othermarks {{
 counter seen {{ }}
 counter kept {{ }}
 chain pre {{ type filter hook prerouting priority -200; meta mark set meta mark | 0x1; }}
 chain out {{ type route hook output priority -200; meta mark set meta mark | 0x1; }}
 chain post {{
  type filter hook postrouting priority 300;
  ip daddr {SERVER_IP} counter name "seen"
  ip saddr {SERVER_IP} counter name "seen"
  ip daddr {SERVER_IP} meta mark & 0x1 == 0x1 counter name "kept"
  ip saddr {SERVER_IP} meta mark & 0x1 == 0x1 counter name "kept"
 }}
}}
"""


def test_other_softwares_mark_bits_survive(lab3: Lab) -> None:
    lab3.router.run("nft", "-f", "-", input=OTHER_MARKS)
    lab3.multiwan("apply", config=lab_config(lab3))
    for client in (lab3.clients[0], lab3.router):
        result = lab3.flows(count=60, client=client)
        assert result.failed == 0, result
        assert min(result.per_isp.values()) > 0, result
    listing = lab3.router.run("nft", "-j", "list", "counters", "table", "inet", "othermarks")
    packets = {
        item["counter"]["name"]: item["counter"]["packets"]
        for item in json.loads(listing.stdout)["nftables"]
        if "counter" in item
    }
    assert packets["seen"] > 0
    assert packets["kept"] == packets["seen"], f"mark bit 0x1 cleared: {packets}"


def test_foreign_ip_rules_in_the_priority_range_are_left_alone(lab3: Lab) -> None:
    run = lab3.router.run
    run("ip", "-4", "rule", "add", "pref", "7750", "from", "10.99.0.0/24", "lookup", "main")
    run("ip", "-6", "rule", "add", "pref", "7750", "from", "fd00:99:1::/64", "lookup", "main")

    def foreign() -> tuple[str, str]:
        return (
            run("ip", "-4", "rule", "show", "pref", "7750").stdout,
            run("ip", "-6", "rule", "show", "pref", "7750").stdout,
        )

    before = foreign()
    assert "10.99.0.0/24" in before[0]
    assert "fd00:99:1::/64" in before[1]
    lab3.multiwan("apply", config=lab_config(lab3))
    assert foreign() == before, "first apply"
    lab3.multiwan("apply", config=lab_config(lab3, ipv6=True))
    assert foreign() == before, "second apply (adds IPv6 rules)"
    again = lab3.multiwan("apply", config=lab_config(lab3, ipv6=True))
    assert again.stdout.strip() == "Already applied: no changes.", again.stdout
    lab3.multiwan("flush")
    assert foreign() == before, "flush"


def wait_until_broken(flow: LongFlow, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not flow.broken() and time.monotonic() < deadline:
        time.sleep(0.05)
    return flow.broken()


def test_last_resort_connections_move_back_when_a_link_returns(lab3: Lab) -> None:
    """Every link's health checks fail (ICMP dropped upstream, TCP still passes): new
    connections go by main, whose default route runs via ISP 3. When isp1 is back, new
    connections of the same client use it, and the connections made by main are flushed."""
    isp1, _, isp3 = lab3.isps
    lab3.replace_main_default(isp3)
    config = lab_config(lab3, health=probe_health(lab3), last_resort="main")
    with LabDaemon(lab3, config) as daemon:
        for isp in lab3.isps:
            isp.drop_pings()
        for isp in lab3.isps:
            daemon.wait_log(rf"link {isp.name}: up -> down")
        assert lab3.flows(count=30).per_isp == {"isp1": 0, "isp2": 0, "isp3": 30}
        with LongFlow(lab3.clients[0]) as by_main:
            assert by_main.sources() == {isp3.public}
            isp1.restore()
            daemon.wait_log(r"link isp1: down -> up")
            assert lab3.flows(count=30).per_isp == {"isp1": 30, "isp2": 0, "isp3": 0}
            assert wait_until_broken(by_main), "the last-resort connection was not flushed"


def wait_for_change_or_exit(daemon: LabDaemon, pattern: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while daemon.proc is not None and daemon.proc.poll() is None:
        if re.search(pattern, daemon.log()):
            return
        assert time.monotonic() < deadline, f"no {pattern!r} and still running:\n{daemon.log()}"
        time.sleep(0.05)


@pytest.mark.parametrize("command", ["apply", "flush"])
def test_apply_and_flush_while_the_daemon_runs_keep_dead_links_out(lab3: Lab, command: str) -> None:
    """isp2 is down in the daemon; `multiwan apply` or `flush` either goes through the
    daemon or refuses, saying so: new connections never go to isp2 and none fails. An
    apply leaves the daemon in charge; a flush that says it succeeded is not undone."""
    config = lab_config(lab3, health=probe_health(lab3))
    with LabDaemon(lab3, config) as daemon:
        lab3.isps[1].blackhole()
        daemon.wait_log(r"link isp2: up -> down")
        result = lab3.multiwan(command, config=config, check=False)
        said = (result.stdout + result.stderr).lower()
        assert result.returncode == 0 or "daemon" in said, result
        after = lab3.flows(count=60, timeout=1.0)
        assert after.failed == 0, (result, after)
        assert after.per_isp["isp2"] == 0, (result, after)
        lab3.isps[1].restore()
        if command == "apply":  # the daemon still follows the link
            daemon.wait_log(r"link isp2: down -> up")
            assert lab3.flows(count=90).per_isp["isp2"] > 0
        elif result.returncode == 0:  # flushed: the daemon's next change does not undo it
            wait_for_change_or_exit(daemon, r"link isp2: down -> up")
            tables = lab3.router.run("nft", "list", "tables").stdout
            assert "multiwan" not in tables, f"flush undone:\n{daemon.log()}"


def test_ipv6_only_over_links_that_carry_it(lab3: Lab) -> None:
    """Only isp1 routes IPv6: new IPv6 connections all take it (before, they were given an
    IPv4-only link's mark and fell through to main), IPv4 is still balanced over all."""
    config = lab_config(lab3, ipv6=True)
    for isp in lab3.isps[1:]:  # isp2, isp3: IPv4 only
        config = config.replace(
            f'ipv6 = true\nmasquerade6 = true\ngateway6 = "{isp.gateway6}"\n', ""
        )
    assert config.count("ipv6 = true") == 1
    lab3.router.run("ip", "-6", "route", "del", "default")  # main can't rescue a wrong mark
    lab3.multiwan("apply", config=config)
    six = lab3.flows(count=60, dst=lab3.server_ip6, timeout=1.0)
    assert six.failed == 0, six
    assert six.per_isp == {"isp1": 60, "isp2": 0, "isp3": 0}
    four = lab3.flows(count=90)
    assert four.failed == 0, four
    assert min(four.per_isp.values()) > 0, four
