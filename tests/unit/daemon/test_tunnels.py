"""The tunnel edge reports what happened to a process (or a kernel WireGuard device) as
events, with a reason a person can act on. The kernel is played by stand-ins: these tests
never create a device in the namespace they run in."""

import asyncio
import errno
import shutil
from collections import deque

import pytest

from multiwan.core.tunnels import TunnelSpec
from multiwan.daemon import tunnels
from multiwan.daemon.events import DaemonEvent, TunnelExited, TunnelStarted
from multiwan.daemon.leftovers import Records
from multiwan.daemon.tunnels import TunnelProcesses, exit_reason

WG = TunnelSpec("vpn1", "wireguard", "wgx0", "/x.conf", "isp1", "wan1", 0x100)


def kernel_refuses(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    def refuse(interface: str) -> None:
        raise OSError(code, f"cannot create {interface} (wireguard): {errno.errorcode[code]}")

    monkeypatch.setattr(tunnels, "create_kernel_wireguard", refuse)


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
    asyncio.run(TunnelProcesses(events.append, Records(None)).run(spec, 7))
    started, exited = events
    assert isinstance(started, TunnelStarted)
    assert (started.link, started.attempt) == ("vpn1", 7)
    assert isinstance(exited, TunnelExited)
    assert exited.attempt == 7
    assert exited.reason.startswith("exited with status 1: "), exited.reason
    assert "/nonexistent/vpn1.conf" in exited.reason


def test_a_missing_program_is_reported_as_an_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    """No WireGuard in the kernel: wireguard-go is what runs, and it is missing."""
    kernel_refuses(monkeypatch, errno.EOPNOTSUPP)
    monkeypatch.setenv("PATH", "/nonexistent")
    events: list[DaemonEvent] = []
    asyncio.run(TunnelProcesses(events.append, Records(None)).run(WG, 3))
    (exited,) = events
    assert isinstance(exited, TunnelExited)
    assert exited.reason.startswith("could not start: [Errno 2] No such file or directory")


def test_another_refusal_of_the_kernel_is_the_starts_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name taken (or no permission) would stop wireguard-go too: none runs."""
    kernel_refuses(monkeypatch, errno.EEXIST)
    monkeypatch.setattr(tunnels, "tunnel_argv", lambda spec: pytest.fail("wireguard-go ran"))
    events: list[DaemonEvent] = []
    asyncio.run(TunnelProcesses(events.append, Records(None)).run(WG, 4))
    (exited,) = events
    assert isinstance(exited, TunnelExited)
    assert exited.reason == "could not start: [Errno 17] cannot create wgx0 (wireguard): EEXIST"


class FakeKernel:
    """A kernel with WireGuard: devices made, configured and deleted in a set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.devices: set[str] = set()
        self.deleted: list[str] = []

        async def configure(spec: TunnelSpec) -> None:
            assert spec.interface in self.devices

        async def delete(interface: str) -> None:
            self.deleted.append(interface)
            self.devices.discard(interface)

        monkeypatch.setattr(tunnels, "create_kernel_wireguard", self.devices.add)
        monkeypatch.setattr(tunnels, "configure_wireguard", configure)
        monkeypatch.setattr(tunnels, "delete_device", delete)
        monkeypatch.setattr(tunnels, "device_exists", self.devices.__contains__)
        monkeypatch.setattr(tunnels, "DEVICE_POLL", 0.01)


class Reports:
    """The edge's events, and a wait for the next one."""

    def __init__(self) -> None:
        self.events: list[DaemonEvent] = []
        self.arrived = asyncio.Event()

    def __call__(self, event: DaemonEvent) -> None:
        self.events.append(event)
        self.arrived.set()


def test_a_kernel_tunnel_runs_without_a_process_and_ends_when_its_device_vanishes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kernel = FakeKernel(monkeypatch)
    reports = Reports()

    async def story() -> None:
        edge = TunnelProcesses(reports, Records(None))
        async with asyncio.TaskGroup() as group:
            group.create_task(edge.run(WG, 5))
            await reports.arrived.wait()
            assert reports.events == [TunnelStarted("vpn1", 5, None, "kernel")]
            assert not edge.running  # no process
            kernel.devices.discard("wgx0")  # someone deleted it

    asyncio.run(story())
    assert reports.events[1:] == [TunnelExited("vpn1", 5, "its device wgx0 vanished")]
    assert kernel.deleted == []


def test_stopping_a_kernel_tunnel_deletes_its_device(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = FakeKernel(monkeypatch)
    reports = Reports()

    async def story() -> None:
        edge = TunnelProcesses(reports, Records(None))
        async with asyncio.TaskGroup() as group:
            group.create_task(edge.run(WG, 6))
            await reports.arrived.wait()
            await edge.stop_all()
            assert kernel.deleted == ["wgx0"]  # gone once stop returns

    asyncio.run(story())
    assert reports.events == [TunnelStarted("vpn1", 6, None, "kernel"),
                              TunnelExited("vpn1", 6, "stopped: device deleted")]  # fmt: skip
