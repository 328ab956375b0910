"""Tunnel processes a killed daemon left behind are ended at the next start, only while their
command line is still the one recorded: a pid since reused by another program is spared."""

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from multiwan.daemon.leftovers import Records, cmdline

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def sleeper() -> subprocess.Popen[bytes]:
    """A long-running child, returned once /proc shows its command line (right after the
    fork it may not yet)."""
    child = subprocess.Popen(SLEEPER)
    deadline = time.monotonic() + 5
    while cmdline(child.pid) != SLEEPER and time.monotonic() < deadline:
        time.sleep(0.01)
    return child


def test_a_recorded_process_is_ended_and_its_record_forgotten(tmp_path: Path) -> None:
    orphan = sleeper()
    try:
        Records(tmp_path).process("vpn1", orphan.pid, SLEEPER)
        asyncio.run(Records(tmp_path).end_leftovers())
        assert orphan.wait(timeout=5) == -15  # SIGTERM
        assert list(tmp_path.iterdir()) == []
    finally:
        orphan.kill()


def test_a_pid_running_another_command_is_left_alone(tmp_path: Path) -> None:
    other = sleeper()
    try:
        Records(tmp_path).process("vpn1", other.pid, ["wireguard-go", "--foreground", "wg1"])
        asyncio.run(Records(tmp_path).end_leftovers())
        assert other.poll() is None
        assert cmdline(other.pid) == SLEEPER
        assert list(tmp_path.iterdir()) == []  # the record is stale: forgotten
    finally:
        other.kill()
        other.wait()
    assert cmdline(other.pid) is None


def test_a_tunnel_that_ended_is_no_longer_recorded(tmp_path: Path) -> None:
    records = Records(tmp_path)
    records.device("vpn1", "wg1")
    records.process("vpn2", 4242, ["openvpn"])
    records.forget("vpn1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vpn2.json"]


def test_a_record_that_cannot_be_written_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "tunnels").write_text("a file where the directory should be")
    Records(tmp_path / "tunnels").process("vpn1", 4242, ["openvpn"])
    assert "tunnel vpn1: cannot record it in " in caplog.text
