"""`multiwan use LINK -- COMMAND`: the command's connections leave by that link only, even to
an address every modem answers at (three modems at 192.168.1.1), and to the internet; its
exit status comes back; nothing of it stays behind."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from multiwan.kernel.cgroupbind import cgroup2_root
from multiwan.lab.configs import lab_config
from multiwan.lab.observe import GATEWAY_PORT, modem_answers, serve_gateways
from multiwan.lab.topology import Lab
from tests.lab.conftest import LabFactory

pytestmark = pytest.mark.lab


def _use(lab: Lab, link: str, *command: str) -> subprocess.CompletedProcess[str]:
    """`multiwan use` in the router, entered with nsenter: `ip netns exec` remounts /sys,
    which hides the cgroup hierarchy (a real router has it where it belongs)."""
    config = lab.state_dir / "multiwan.toml"
    argv = [
        "nsenter", f"--net=/run/netns/{lab.router.name}", sys.executable, "-m", "multiwan",
        "--state-dir", str(lab.state_dir), "-c", str(config), "use", link, "--", *command,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def _greeted(lab: Lab, link: str, dst: str, port: int) -> tuple[Counter[str], int]:
    """Who answered 10 connections made under `use link`, and how many failed."""
    done = _use(lab, link, sys.executable, "-m", "multiwan.lab.traffic", "tcp", "--dst", dst,
                "--port", str(port), "--count", "10", "--timeout", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    raw = json.loads(done.stdout)
    return Counter(raw["sources"]), raw["failed"]


def test_use_sends_a_command_by_one_link(make_lab: LabFactory) -> None:
    lab = make_lab(plan="same-subnet")
    serve_gateways(lab)
    lab.multiwan("apply", config=lab_config(lab))
    before = {p.name for p in Path(cgroup2_root()).rglob("multiwan-use-*")}
    # Without `use`, the router reaches the first modem only (main's connected route).
    assert modem_answers(lab, count=10, client=lab.router).per_isp == {
        "isp1": 10, "isp2": 0, "isp3": 0
    }  # fmt: skip
    for link in ("isp2", "isp3"):
        greeted, failed = _greeted(lab, link, "192.168.1.1", GATEWAY_PORT)
        assert failed == 0
        assert {line.split()[1] for line in greeted} == {link}, greeted
        # To the internet too: the server sees the link's ISP as the source.
        sources, failed = _greeted(lab, link, lab.server_ip, 80)
        assert failed == 0
        assert {lab.isp_for_source(a.split(":")[0]) for a in sources} == {link}, sources
    assert _use(lab, "isp2", "sh", "-c", "exit 7").returncode == 7
    unknown = _use(lab, "nope", "true")
    assert unknown.returncode == 2
    assert "unknown link 'nope' (links: isp1, isp2, isp3)" in unknown.stderr
    assert {p.name for p in Path(cgroup2_root()).rglob("multiwan-use-*")} == before
