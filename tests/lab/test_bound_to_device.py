"""A socket bound to an uplink's device, without a mark (`ping -I wan2`, `curl --interface
wan2`), leaves by that uplink: the `oif <dev> lookup <link table>` rule finds its
table. Without the rule, a link the default policy does not use now has no route the kernel
may take through that device, so it treats the host as on-link, ARPs for it and fails."""

import sys

import pytest

from multiwan.lab.configs import lab_config
from tests.lab.conftest import LabFactory

pytestmark = pytest.mark.lab

#: A TCP connect bound to the device argv[1] (no SO_MARK) to the whoami server argv[2];
#: prints the source the server saw (which ISP masqueraded it).
BOUND_WHOAMI = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, sys.argv[1].encode())
s.settimeout(2)
s.connect((sys.argv[2], 80))
print(s.makefile().readline().strip())
"""

#: `ping -c 1 -I argv[1] argv[2]` (no ping binary here): one echo from a raw socket bound to
#: the device, no SO_MARK; exits 0 on its reply. Its own identifier, as ping's: one
#: conntrack entry per ping (modems sharing one address would otherwise share one).
BOUND_PING = """
import os, socket, sys
from multiwan.probing.icmp import echo_request, parse_reply
ident = os.getpid() & 0xFFFF
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, sys.argv[1].encode())
s.settimeout(2)
s.sendto(echo_request(socket.AF_INET, ident, 1), (sys.argv[2], 0))
while parse_reply(socket.AF_INET, s.recv(4096)) != (ident, 1):
    pass
"""


def test_sockets_bound_to_a_device_leave_by_that_link(make_lab: LabFactory) -> None:
    lab = make_lab(plan="same-subnet", same_address=True)
    # Failover: the router's own traffic is decided for isp1 alone (and the fallback table
    # routes by isp1 only), so isp2 and isp3 are reached by their device alone.
    lab.multiwan("apply", config=lab_config(lab, strategy="failover"))
    for isp in lab.isps:
        seen = lab.router.run(sys.executable, "-c", BOUND_WHOAMI, isp.router_if, lab.server_ip)
        assert lab.isp_for_source(seen.stdout.strip()) == isp.name
        ping = lab.router.run(
            sys.executable, "-c", BOUND_PING, isp.router_if, lab.server_ip, check=False
        )
        assert ping.returncode == 0, f"ping -I {isp.router_if}: {ping.stderr}"
