"""The data plane with real traffic: weights, rules, tiers, stickiness, NAT, IPv6.

Each test applies a config with the real CLI inside the router namespace, sends real TCP/UDP
flows from a LAN client (or the router itself) to the internet host, and counts which ISP
carried each one by the source address the server saw.
"""

import pytest

from multiwan.lab.configs import lab_config
from multiwan.lab.topology import Lab
from tests.lab.conftest import LabFactory
from tests.lab.shares import assert_shares

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("weights", [(1, 1, 1), (1, 2, 3)])
def test_connections_split_by_weight(lab3: Lab, weights: tuple[int, int, int]) -> None:
    lab3.multiwan("apply", config=lab_config(lab3, weights=weights))
    result = lab3.flows(count=1200, concurrency=30)
    assert_shares(result, {f"isp{k}": w for k, w in enumerate(weights, start=1)})


def test_router_originated_traffic_is_balanced(lab3: Lab) -> None:
    lab3.multiwan("apply", config=lab_config(lab3))
    result = lab3.flows(count=600, client=lab3.router)
    assert_shares(result, {"isp1": 1, "isp2": 1, "isp3": 1})


def test_udp_and_ipv6_flows_are_balanced(lab3: Lab) -> None:
    lab3.multiwan("apply", config=lab_config(lab3, ipv6=True))
    assert_shares(lab3.flows("udp", count=600, port=5353), {"isp1": 1, "isp2": 1, "isp3": 1})
    six = lab3.flows(count=600, dst=lab3.server_ip6)
    assert_shares(six, {"isp1": 1, "isp2": 1, "isp3": 1})


RULES = """
[[rules]]
name = "bypass-5001"
dst = ["203.0.113.10/32"]
dport = [5001]
via = "main"

[[rules]]
name = "ssh-on-isp2"
proto = "tcp"
dport = [22, "8000-8100"]
via = "isp2"

[[rules]]
name = "sip-on-isp3"
proto = "udp"
dport = [5060]
via = "isp3"

[[rules]]
name = "second-client-on-isp1"
src = ["10.10.0.3/32"]
via = "isp1"
"""


def test_rules_send_matching_traffic_to_their_link(make_lab: LabFactory) -> None:
    lab = make_lab(n_clients=2)
    lab.multiwan("apply", config=lab_config(lab, extra=RULES))
    assert lab.flows(count=60, port=22).per_isp == {"isp1": 0, "isp2": 60, "isp3": 0}
    assert lab.flows(count=60, port=8080).per_isp == {"isp1": 0, "isp2": 60, "isp3": 0}
    assert lab.flows("udp", count=60, port=5060).per_isp == {"isp1": 0, "isp2": 0, "isp3": 60}
    second = lab.flows(count=60, port=80, client=lab.clients[1])
    assert second.per_isp == {"isp1": 60, "isp2": 0, "isp3": 0}
    # `main` bypasses balancing: the main table's default route goes by ISP 1.
    assert lab.flows(count=60, port=5001).per_isp == {"isp1": 60, "isp2": 0, "isp3": 0}
    # Anything else is still balanced.
    other = lab.flows(count=300, port=443)
    assert all(n > 0 for n in other.per_isp.values()), other


def test_failover_policy_uses_only_the_best_link(lab3: Lab) -> None:
    lab3.multiwan("apply", config=lab_config(lab3, strategy="failover", priorities=(2, 1, 3)))
    assert lab3.flows(count=100).per_isp == {"isp1": 0, "isp2": 100, "isp3": 0}


def test_balance_uses_only_the_best_tier(lab3: Lab) -> None:
    lab3.multiwan("apply", config=lab_config(lab3, priorities=(2, 1, 1)))
    assert_shares(lab3.flows(count=400), {"isp2": 1, "isp3": 1})


@pytest.mark.parametrize("same_address", [False, True], ids=["own-addresses", "one-address"])
def test_modems_sharing_subnet_and_gateway(make_lab: LabFactory, same_address: bool) -> None:
    lab = make_lab(plan="same-subnet", same_address=same_address)
    lab.multiwan("apply", config=lab_config(lab))
    assert_shares(lab.flows(count=900), {"isp1": 1, "isp2": 1, "isp3": 1})
    assert_shares(lab.flows(count=300, client=lab.router), {"isp1": 1, "isp2": 1, "isp3": 1})


def test_replies_leave_by_the_link_the_connection_came_in_on(lab3: Lab) -> None:
    """A service on the router reached through ISP 2 (port-forwarded there) must answer
    through ISP 2, although the main table's default route points at ISP 1."""
    lab3.multiwan("apply", config=lab_config(lab3))
    isp2 = lab3.isps[1]
    isp2.forward_port(2222, isp2.router_address, 80)
    lab3.serve(lab3.router, ["127.0.0.1"], tcp=[80])
    result = lab3.flows(count=50, client=lab3.inet, dst=isp2.public, port=2222)
    assert result.failed == 0
