"""Related connections (FTP data) leave by the link of their control connection.

The FTP server refuses a passive data connection from any address but the control
connection's, so with three ISPs NATing to three addresses a download only works when the
data connection took the same ISP: multiwan's conntrack helper makes it `related`, and
related connections inherit the control connection's mark.
"""

import sys
from pathlib import Path

import pytest

from multiwan.lab.configs import lab_config
from multiwan.lab.topology import Lab

pytestmark = pytest.mark.lab

DOWNLOADS = """
import ftplib, sys
ok = 0
for _ in range(int(sys.argv[2])):
    try:
        with ftplib.FTP(sys.argv[1], timeout=3) as ftp:
            ftp.login()
            chunks = []
            ftp.retrbinary("RETR hello.txt", chunks.append)
            ok += b"".join(chunks) == b"hello through one ISP\\n"
    except (OSError, ftplib.Error):
        pass
print(ok)
"""


def ftp_successes(lab: Lab, count: int) -> int:
    out = lab.clients[0].run(
        sys.executable, "-c", DOWNLOADS, lab.server_ip, str(count), timeout=120
    )
    return int(out.stdout)


def test_ftp_data_connections_follow_their_control_connection(lab3: Lab, tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello through one ISP\n")
    lab3.start(
        lab3.inet, sys.executable, "-m", "pyftpdlib", "-i", lab3.server_ip, "-p", "21",
        "-d", str(tmp_path),
    )  # fmt: skip
    connect = f"import socket; socket.create_connection(('{lab3.server_ip}', 21), timeout=1)"
    lab3.inet.wait_for([sys.executable, "-c", connect])
    lab3.multiwan("apply", config='conntrack_helpers = ["ftp"]\n' + lab_config(lab3))
    assert ftp_successes(lab3, 30) == 30
    counters = lab3.router.run("nft", "list", "counters", "table", "inet", "multiwan").stdout
    assert counters.count("packets 0 ") == 0, "control connections were balanced over all ISPs"
