"""The tunnel edge reports what happened to a process as events, with a reason a person
can act on."""

import asyncio
import shutil
from collections import deque

import pytest

from multiwan.core.tunnels import TunnelSpec
from multiwan.daemon.events import DaemonEvent, TunnelExited, TunnelStarted
from multiwan.daemon.tunnels import TunnelProcesses, exit_reason


def test_exit_reasons_name_the_signal_or_the_status_and_last_line() -> None:
    assert exit_reason(-9, deque()) == "killed by signal 9 (SIGKILL)"
    assert exit_reason(1, deque(["Options error: bad", "Use --help"])) == (
        "exited with status 1: Options error: bad; Use --help"
    )
    assert exit_reason(0, deque()) == "exited with status 0"


@pytest.mark.skipif(shutil.which("openvpn") is None, reason="needs openvpn")
def test_a_tunnel_that_cannot_run_reports_started_then_why_it_exited() -> None:
    events: list[DaemonEvent] = []
    spec = TunnelSpec("vpn1", "openvpn", "tunx0", "/nonexistent/vpn1.conf", "isp1", "wan1", 0x100)
    asyncio.run(TunnelProcesses(events.append).run(spec, 7))
    started, exited = events
    assert isinstance(started, TunnelStarted)
    assert (started.link, started.attempt) == ("vpn1", 7)
    assert isinstance(exited, TunnelExited)
    assert exited.attempt == 7
    assert exited.reason.startswith("exited with status 1: "), exited.reason
    assert "/nonexistent/vpn1.conf" in exited.reason


def test_a_missing_program_is_reported_as_an_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    events: list[DaemonEvent] = []
    spec = TunnelSpec("vpn1", "wireguard", "wgx0", "/x.conf", "isp1", "wan1", 0x100)
    asyncio.run(TunnelProcesses(events.append).run(spec, 3))
    (exited,) = events
    assert isinstance(exited, TunnelExited)
    assert exited.reason.startswith("could not start: [Errno 2] No such file or directory")
