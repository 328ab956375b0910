"""Tunnel links with real wireguard-go and openvpn: the daemon raises a tunnel over each base
link (also over identical modems), balances over the tunnels, takes a tunnel down with its
base and back up with it, and restarts a killed tunnel process; WireGuard runs in the kernel
where the kernel has it, else in wireguard-go; tunnels a killed daemon left are ended by
the next one."""

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from multiwan.core.tunnels import TunnelKind
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.topology import SERVER_IP, SERVER_IP6, Lab
from multiwan.lab.tunnels import (
    TunnelEnd,
    kernel_wireguard,
    peer_addresses,
    tunnel_processes,
    tunnel_servers,
    tunnels_config,
)
from tests.lab.conftest import LabFactory

pytestmark = pytest.mark.lab


def wait_until(predicate: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {timeout} s")
        time.sleep(0.1)


def links(lab: Lab) -> dict[str, dict[str, Any]]:
    status = json.loads(lab.multiwan("status", "--json").stdout)
    return {row["name"]: row for row in status["links"]}


def up(lab: Lab, *names: str) -> bool:
    rows = links(lab)
    return all(rows[n]["state"] == "up" and rows[n]["tunnel"]["process"] == "running"
               for n in names)  # fmt: skip


def per_tunnel(lab: Lab, ends: list[TunnelEnd], count: int = 60) -> dict[str, int]:
    """New TCP flows from the client to the internet host, by the tunnel each took (the
    source the server saw); every flow must work."""
    raw = lab.traffic("tcp", count, 80, None, SERVER_IP)
    assert raw["failed"] == 0, raw
    names = {end.address: end.link for end in ends}
    return {names.get(source, source): n for source, n in raw["sources"].items()}


def world(
    make_lab: LabFactory, kinds: list[TunnelKind], **options: Any
) -> tuple[Lab, list[TunnelEnd]]:
    lab = make_lab(n_isps=len(kinds), **options)
    return lab, tunnel_servers(lab, kinds)


@pytest.mark.parametrize("kind", ["wireguard", "openvpn"])
def test_tunnels_come_up_over_each_base_and_share_the_traffic(
    make_lab: LabFactory, kind: TunnelKind
) -> None:
    lab, ends = world(make_lab, [kind, kind])
    with LabDaemon(lab, tunnels_config(lab, ends)) as daemon:
        wait_until(lambda: up(lab, "vpn1", "vpn2"))
        rows = links(lab)
        assert rows["vpn1"]["tunnel"]["over"] == "isp1"
        assert rows["vpn2"]["tunnel"]["kind"] == kind
        tunnel = rows["vpn2"]["tunnel"]
        assert isinstance(tunnel["pid"], int) or tunnel["implementation"] == "kernel"
        shares = per_tunnel(lab, ends)
        assert set(shares) == {"vpn1", "vpn2"}, shares  # every flow went through a tunnel
        assert min(shares.values()) >= 10, shares
        assert "tunnel vpn1 (" in daemon.log()
        table = lab.multiwan("status").stdout
        assert "Tunnels" in table
        assert f"vpn2 │ {kind}" in table
    for end in ends:  # each tunnel's own packets left by its base link's ISP
        assert peer_addresses(lab, end) == {lab.isps[end.index - 1].public}


@pytest.mark.parametrize("kind", ["wireguard", "openvpn"])
def test_tunnels_over_identical_modems_each_use_their_own(
    make_lab: LabFactory, kind: TunnelKind
) -> None:
    """Every modem at 192.168.1.1 and the router at 192.168.1.100 on each: only the device
    and the mark tell the tunnels' paths apart."""
    lab, ends = world(make_lab, [kind, kind], plan="same-subnet", same_address=True)
    with LabDaemon(lab, tunnels_config(lab, ends)):
        wait_until(lambda: up(lab, "vpn1", "vpn2"))
        shares = per_tunnel(lab, ends)
        assert set(shares) == {"vpn1", "vpn2"}, shares
    for end in ends:
        assert peer_addresses(lab, end) == {lab.isps[end.index - 1].public}


@pytest.mark.parametrize(("kind", "fault"), [("wireguard", "blackhole"),
                                             ("openvpn", "interface down")])  # fmt: skip
def test_a_dead_base_takes_its_tunnel_down_and_its_recovery_brings_it_back(
    make_lab: LabFactory, kind: TunnelKind, fault: str
) -> None:
    lab, ends = world(make_lab, [kind, kind])
    isp1 = lab.isps[0]
    with LabDaemon(lab, tunnels_config(lab, ends)) as daemon:
        wait_until(lambda: up(lab, "vpn1", "vpn2"))
        isp1.blackhole() if fault == "blackhole" else lab.uplink_down(isp1)
        wait_until(lambda: links(lab)["vpn1"]["tunnel"]["process"] == "stopped")
        rows = links(lab)
        assert rows["isp1"]["state"] in ("down", "absent")
        assert rows["vpn1"]["state"] in ("down", "absent")
        assert rows["vpn1"]["tunnel"]["pid"] is None
        assert up(lab, "vpn2")
        assert per_tunnel(lab, ends, count=20) == {"vpn2": 20}
        isp1.restore() if fault == "blackhole" else lab.uplink_up(isp1)
        wait_until(lambda: up(lab, "vpn1", "vpn2"))  # no operator action
        assert "tunnel vpn1 (" + kind + " over isp1) starting: base link isp1 is up" in (
            daemon.log()
        )
        assert links(lab)["vpn1"]["tunnel"]["restarts"] == 0  # stopped and started, not crashed
        assert set(per_tunnel(lab, ends)) == {"vpn1", "vpn2"}


@pytest.mark.parametrize("kind", ["wireguard", "openvpn"])
def test_a_killed_tunnel_process_is_restarted(make_lab: LabFactory, kind: TunnelKind) -> None:
    lab, ends = world(make_lab, [kind])
    if kind == "wireguard" and kernel_wireguard(lab):
        pytest.skip("the kernel runs WireGuard here: no process to kill (see the kernel test)")
    with LabDaemon(lab, tunnels_config(lab, ends)) as daemon:  # metrics on 127.0.0.1:9560
        wait_until(lambda: up(lab, "vpn1"))
        pid = links(lab)["vpn1"]["tunnel"]["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: up(lab, "vpn1") and links(lab)["vpn1"]["tunnel"]["pid"] != pid)
        tunnel = links(lab)["vpn1"]["tunnel"]
        assert tunnel["restarts"] == 1
        assert tunnel["last_exit"] == "killed by signal 9 (SIGKILL)"
        assert "killed by signal 9 (SIGKILL); restarting in 1 s" in daemon.log()
        assert per_tunnel(lab, ends, count=10) == {"vpn1": 10}
        runs = tunnel["implementation"]
        assert runs == ("openvpn" if kind == "openvpn" else "wireguard-go")
        labels = f'implementation="{runs}",kind="{kind}",link="vpn1",over="isp1"'
        wait_until(lambda: f"multiwan_tunnel_running{{{labels}}} 1.0" in scrape(lab))
        restarts = f'multiwan_tunnel_restarts_total{{kind="{kind}",link="vpn1",over="isp1"}} 1.0'
        assert restarts in scrape(lab)


def scrape(lab: Lab) -> str:
    fetch = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9560/metrics').read())"
    return lab.router.run(sys.executable, "-c", fetch).stdout.replace("\\n", "\n")


def test_without_kernel_wireguard_wireguard_go_runs_and_says_why(make_lab: LabFactory) -> None:
    lab, ends = world(make_lab, ["wireguard"])
    if kernel_wireguard(lab):
        pytest.skip("this kernel has WireGuard: the kernel runs the tunnel (next test)")
    with LabDaemon(lab, tunnels_config(lab, ends)) as daemon:
        wait_until(lambda: up(lab, "vpn1"))
        tunnel = links(lab)["vpn1"]["tunnel"]
        assert tunnel["implementation"] == "wireguard-go"
        assert tunnel_processes(ends[0].interface) == [tunnel["pid"]]
        daemon.wait_log(r"tunnel vpn1 \(wireguard over isp1\) running: wireguard-go, pid \d+ "
                        r"\(no WireGuard in the kernel: \[Errno 95\] cannot create ")  # fmt: skip
        assert "wireguard-go" in lab.multiwan("status").stdout
        assert per_tunnel(lab, ends, count=10) == {"vpn1": 10}


def test_kernel_wireguard_runs_without_a_process_and_is_supervised(make_lab: LabFactory) -> None:
    """Runs only on a kernel with WireGuard (not this project's usual test machine)."""
    lab, ends = world(make_lab, ["wireguard"])
    if not kernel_wireguard(lab):
        pytest.skip("this kernel has no WireGuard (ip link add type wireguard refused): "
                    "the kernel path cannot run here")  # fmt: skip
    device = ends[0].interface
    with LabDaemon(lab, tunnels_config(lab, ends)) as daemon:
        wait_until(lambda: up(lab, "vpn1"))
        tunnel = links(lab)["vpn1"]["tunnel"]
        assert (tunnel["implementation"], tunnel["pid"]) == ("kernel", None)
        assert tunnel_processes(device) == []
        assert "running: in the kernel (no process)" in daemon.log()
        assert per_tunnel(lab, ends, count=10) == {"vpn1": 10}
        lab.router.run("ip", "link", "delete", device)  # what a process exit is to a process
        wait_until(lambda: up(lab, "vpn1") and links(lab)["vpn1"]["tunnel"]["restarts"] == 1)
        assert links(lab)["vpn1"]["tunnel"]["last_exit"] == f"its device {device} vanished"
        assert per_tunnel(lab, ends, count=10) == {"vpn1": 10}
    assert lab.router.run("ip", "link", "show", device, check=False).returncode != 0


def test_tunnels_a_killed_daemon_left_are_ended_by_the_next_one(make_lab: LabFactory) -> None:
    """SIGKILL outside systemd leaves the tunnel processes running, holding their devices:
    the next daemon ends them (by the pids it recorded, while their command line matches)
    and runs exactly one process per tunnel. (A kernel WireGuard tunnel leaves its device,
    which the next daemon deletes and creates again.)"""
    lab, ends = world(make_lab, ["wireguard", "openvpn"])
    config = tunnels_config(lab, ends)
    first = LabDaemon(lab, config).start()
    wait_until(lambda: up(lab, "vpn1", "vpn2"))
    old = {end.link: links(lab)[end.link]["tunnel"]["pid"] for end in ends}
    first.send(signal.SIGKILL)
    first.stop()
    for end in ends:  # left behind, still running (or, in the kernel, still there)
        assert old[end.link] is None or old[end.link] in tunnel_processes(end.interface)
        assert lab.router.run("ip", "link", "show", end.interface, check=False).returncode == 0
    with LabDaemon(lab, config) as second:
        wait_until(lambda: up(lab, "vpn1", "vpn2"))
        for end in ends:
            pid = links(lab)[end.link]["tunnel"]["pid"]
            assert tunnel_processes(end.interface) == ([] if pid is None else [pid])
            if old[end.link] is None:
                assert f"tunnel {end.link}: deleted kernel WireGuard device " in second.log()
                continue
            assert pid != old[end.link]
            assert f"tunnel {end.link}: ending " in second.log()
            assert links(lab)[end.link]["tunnel"]["restarts"] == 0
        assert set(per_tunnel(lab, ends)) == {"vpn1", "vpn2"}


def test_ipv6_goes_through_wireguard_tunnels(make_lab: LabFactory) -> None:
    """Tunnels over IPv4-only uplinks carry the LAN's IPv6 (inner addresses fd99:k::2/128,
    the tunnel devices their own next hop), balanced over both tunnels, IPv4 still too."""
    lab = make_lab(n_isps=2)
    ends = tunnel_servers(lab, ["wireguard", "wireguard"], ipv6=True)
    with LabDaemon(lab, tunnels_config(lab, ends, ipv6=True)):
        wait_until(lambda: up(lab, "vpn1", "vpn2"))
        raw = lab.traffic("tcp", 60, 80, None, SERVER_IP6)
        assert raw["failed"] == 0, raw
        names = {end.address6: end.link for end in ends}
        shares = {names.get(source, source): n for source, n in raw["sources"].items()}
        assert set(shares) == {"vpn1", "vpn2"}, shares  # every flow went through a tunnel
        assert min(shares.values()) >= 10, shares
        assert set(per_tunnel(lab, ends)) == {"vpn1", "vpn2"}
