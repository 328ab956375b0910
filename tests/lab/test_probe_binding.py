"""SMTP and command probes leave by their link too: an SMTP probe from a dead ISP's link
must fail even though the router's main table reaches the server through another ISP, and a
command gets what it needs to bind itself (INTERFACE, MARK, SOURCE)."""

import sys

import pytest

from multiwan.lab.configs import lab_config
from multiwan.lab.topology import Lab
from tests.lab.test_probes import probe

pytestmark = pytest.mark.lab

SMTP_PORT = 2525


def test_smtp_probes_leave_by_their_link(lab3: Lab) -> None:
    server = lab3.start(lab3.inet, sys.executable, "-m", "multiwan.lab.servers",
                        "--address", lab3.server_ip, "--smtp", str(SMTP_PORT))  # fmt: skip
    assert server.stdout is not None
    assert server.stdout.readline().strip() == "ready"
    lab3.multiwan("apply", config=lab_config(lab3))
    target = {"kind": "smtp", "host": lab3.server_ip, "port": SMTP_PORT}
    assert probe(lab3, [target]) == [[True]] * 3
    lab3.isps[1].blackhole()
    assert probe(lab3, [target]) == [[True], [False], [True]]


#: A command that binds itself as the README says: device, mark and source from its
#: environment, then a TCP connect to the internet host.
BOUND_CONNECT = """
import os, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, os.environ["INTERFACE"].encode())
s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, int(os.environ["MARK"]))
s.bind((os.environ["SOURCE"], 0))
s.settimeout(1)
s.connect((os.environ["HOST"], 80))
"""


def test_command_probes_get_the_link_to_bind_to(lab3: Lab) -> None:
    lab3.multiwan("apply", config=lab_config(lab3))
    argv = ["env", f"HOST={lab3.server_ip}", sys.executable, "-c", BOUND_CONNECT]
    target = {"kind": "command", "argv": argv}
    assert probe(lab3, [target], timeout=2.0) == [[True]] * 3
    lab3.isps[1].blackhole()
    assert probe(lab3, [target], timeout=2.0) == [[True], [False], [True]]
