"""The daemon on the routers people really have (issue 8, item 1): whatever the main table
holds at start (no default route, one via an uplink, one via a management interface), IPv4
and IPv6, distinct and same-subnet uplinks, forwarded and router-originated traffic all
reach the internet over every link by weight, leave a dead ISP, and no reply is dropped by
reverse-path filtering. Then the changes a router lives through: a DHCP client rewriting
main's default, an uplink admin-down at boot, an uplink plugged in after start.
"""

import time

import pytest

from multiwan.lab.configs import lab_config, probe_health
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.netns import Netns
from multiwan.lab.observe import rp_filter_drops
from multiwan.lab.topology import Lab, MainDefault, Plan
from tests.lab.conftest import LabFactory
from tests.lab.shares import assert_shares

pytestmark = pytest.mark.lab

WEIGHTS = (1, 2, 3)


def sources(lab: Lab) -> dict[str, Netns]:
    return {"forwarded": lab.clients[0], "router-originated": lab.router}


def assert_balanced(lab: Lab, dst: str, count: int = 90) -> None:
    """New flows from a LAN client and from the router itself: none fails, every link
    carries its weight's share, and reverse-path filtering dropped nothing."""
    weights = {isp.name: w for isp, w in zip(lab.isps, WEIGHTS, strict=True)}
    for what, client in sources(lab).items():
        result = lab.flows(count=count, client=client, dst=dst, timeout=1.0)
        try:
            assert_shares(result, weights, p=1e-6)
        except AssertionError as exc:
            raise AssertionError(f"{what} to {dst}: {exc}") from None
    assert rp_filter_drops(lab) == 0, "replies dropped by reverse-path filtering"


def assert_avoided(lab: Lab, dst: str, isp: str, count: int = 60) -> None:
    """New flows, forwarded and router-originated: none fails, none uses `isp`, and every
    other link carries some."""
    for what, client in sources(lab).items():
        result = lab.flows(count=count, client=client, dst=dst, timeout=1.0)
        assert result.failed == 0, f"{what} to {dst}: {result}"
        assert result.per_isp[isp] == 0, f"{what} to {dst}: {result}"
        assert all(n > 0 for name, n in result.per_isp.items() if name != isp), result
    assert rp_filter_drops(lab) == 0, "replies dropped by reverse-path filtering"


def daemon_config(lab: Lab, ipv6: bool = False) -> str:
    """Gateways given in the config (not discovered from main), fast probes."""
    return lab_config(lab, weights=WEIGHTS, ipv6=ipv6, health=probe_health(lab))


STACKS = [("distinct", 4), ("distinct", 6), ("same-subnet", 4)]


@pytest.mark.parametrize(
    ("plan", "family"), STACKS, ids=["distinct-v4", "distinct-v6", "same-subnet-v4"]
)
@pytest.mark.parametrize("main_default", ["none", "uplink", "mgmt"])
def test_starting_state(
    make_lab: LabFactory, main_default: MainDefault, plan: Plan, family: int
) -> None:
    lab = make_lab(plan=plan, main_default=main_default)
    dst = lab.server_ip6 if family == 6 else lab.server_ip
    with LabDaemon(lab, daemon_config(lab, ipv6=family == 6)) as daemon:
        assert_balanced(lab, dst)
        lab.isps[1].blackhole()
        daemon.wait_log(r"link isp2: up -> down")
        assert_avoided(lab, dst, "isp2")


def test_main_default_rewritten_by_dhcp_while_running(make_lab: LabFactory) -> None:
    """A DHCP client points main's default at another uplink, later its lease ends and the
    default goes: the daemon's links carry on regardless."""
    lab = make_lab()
    with LabDaemon(lab, daemon_config(lab, ipv6=True)):
        lab.replace_main_default(lab.isps[2])
        for dst in (lab.server_ip, lab.server_ip6):
            assert_balanced(lab, dst)
        lab.router.run("ip", "route", "del", "default")
        lab.router.run("ip", "-6", "route", "del", "default")
        for dst in (lab.server_ip, lab.server_ip6):
            assert_balanced(lab, dst)


def test_uplink_admin_down_at_start(make_lab: LabFactory) -> None:
    """One dead modem at boot (interface down, static gateway in the config) never takes the
    router offline: the other links carry every new connection from the first moment, and
    the link joins once its interface is up."""
    lab = make_lab()
    isp3 = lab.isps[2]
    lab.uplink_down(isp3)
    with LabDaemon(lab, daemon_config(lab)) as daemon:
        assert_avoided(lab, lab.server_ip, "isp3")
        plugged = time.monotonic()
        lab.uplink_up(isp3)
        daemon.wait_log(r"link isp3: \w+ -> up", timeout=15, after=plugged)
        assert_balanced(lab, lab.server_ip)


@pytest.mark.parametrize("main_default", ["uplink", "none"])
def test_uplink_plugged_in_after_start(make_lab: LabFactory, main_default: MainDefault) -> None:
    """An uplink that appears after start (a USB modem plugged in) gets its routes, its
    sysctls and its share. The router starts interfaces with rp_filter=2, as systemd does."""
    lab = make_lab(main_default=main_default, rp_filter=2)
    isp3 = lab.isps[2]
    lab.delete_uplink(isp3)
    with LabDaemon(lab, daemon_config(lab, ipv6=True)) as daemon:
        assert_avoided(lab, lab.server_ip, "isp3")
        plugged = time.monotonic()
        lab.recreate_uplink(isp3)
        daemon.wait_log(r"link isp3: \w+ -> up", timeout=15, after=plugged)
        for dst in (lab.server_ip, lab.server_ip6):
            assert_balanced(lab, dst)
