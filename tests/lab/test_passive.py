"""The passive failure signal against the real daemon: the users' own new TCP connections
(conntrack events) take a blackholed link out before the probes would have, and neither an
idle link nor one far server that never answers trips a healthy link."""

import json
import re
import time

import pytest

from multiwan.lab.configs import lab_config, probe_health
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.topology import Lab
from multiwan.lab.users import DEAD, FAR, Users, far_servers, slow_handshakes

pytestmark = pytest.mark.lab


def passive_health(lab: Lab, extra: str = "", interval: float = 0.2) -> str:
    """Probes every `interval`, 3 to fall; users' connections watched, unanswered after
    0.1 s."""
    extra = "passive = true\npassive_timeout = 0.1\n" + extra
    return probe_health(lab, interval=interval, extra=extra)


def link_status(lab: Lab, name: str) -> dict[str, object]:
    links = json.loads(lab.multiwan("status", "--json").stdout)["links"]
    found: dict[str, object] = next(link for link in links if link["name"] == name)
    return found


def test_blackhole_under_users_traffic_is_caught_by_their_connections_first(lab3: Lab) -> None:
    """passive_down: the users' unanswered connections take the link down before three
    probe rounds could have failed (the log shows the passive alarm, then the transition
    with the passive reason), and new connections soon stop failing. Probes every 0.5 s
    leave room for a loaded machine; bench/passive.py measures 0.2 s."""
    far_servers(lab3)
    health = passive_health(lab3, "passive_down = true\n", interval=0.5)
    config = lab_config(lab3, health=health)
    with LabDaemon(lab3, config) as daemon, Users(lab3, FAR[:4], interval=0.02) as users:
        time.sleep(1.0)
        assert not users.failed_after(0), users.attempts[-10:]
        fault = time.monotonic()
        lab3.isps[0].blackhole()
        alarm = daemon.wait_log(r"link isp1: passive alarm: ", after=fault)
        down = daemon.wait_log(r"link isp1: up -> down \(passive: new connections", after=fault)
        time.sleep(1.5)
        passive = link_status(lab3, "isp1")["passive"]
        assert passive["alarms"] == 1, passive  # type: ignore[index]
    assert fault < alarm <= down, daemon.log()
    assert not re.search(r"isp1: .*rounds failed", daemon.log()), daemon.log()
    failed = users.failed_after(fault)
    assert failed, "the blackhole failed no connection: the test proves nothing"
    assert not users.failed_after(down + 0.2), users.failed_after(down + 0.2)
    print(
        f"down {down - fault:.3f} s after the fault; last failed connection started "
        f"{failed[-1].started - fault:.3f} s after it"
    )


def test_an_idle_link_is_not_taken_down(lab3: Lab) -> None:
    config = lab_config(lab3, health=passive_health(lab3, "passive_down = true\n"))
    with LabDaemon(lab3, config) as daemon:
        time.sleep(3.0)
        assert "passive alarm" not in daemon.log(), daemon.log()
        assert link_status(lab3, "isp1")["state"] == "up"


def test_one_dead_far_server_does_not_take_a_link_down(lab3: Lab) -> None:
    """Every connection of the users goes to one server that never answers: the watcher
    sees them unanswered on every link, but one destination is no outage."""
    far_servers(lab3)
    config = lab_config(lab3, health=passive_health(lab3, "passive_down = true\n"))
    with LabDaemon(lab3, config) as daemon:
        with Users(lab3, (DEAD,), interval=0.02):
            time.sleep(3.0)
        assert "passive alarm" not in daemon.log(), daemon.log()
        statuses = [link_status(lab3, isp.name) for isp in lab3.isps]
    assert {s["state"] for s in statuses} == {"up"}, statuses
    unanswered = [s["passive"]["unanswered"] for s in statuses]  # type: ignore[index]
    assert all(n > 5 for n in unanswered), statuses  # the watcher saw them all fail


def test_a_link_that_sends_but_hardly_receives_is_probed_at_once(lab3: Lab) -> None:
    """Probing every 5 s (15 s to fall), but the users' traffic into a blackholed ISP (SYNs
    out, nothing back) stays under the traffic floor for 2 s: the link is probed at once, at
    fast_interval, and goes down on the probes' verdict long before the regular rounds."""
    far_servers(lab3)
    health = probe_health(
        lab3, interval=5.0,
        extra="fast_interval = 0.1\ntraffic_floor_kbit = 8\ntraffic_floor_seconds = 2\n",
    ).replace("timeout = 5.0", "timeout = 0.1")  # fmt: skip
    with LabDaemon(lab3, lab_config(lab3, health=health)) as daemon, Users(lab3, FAR, 0.01):
        time.sleep(2.0)
        fault = time.monotonic()
        lab3.isps[1].blackhole()
        floor = daemon.wait_log(r"link isp2: traffic floor: received \d+ kbit/s < 8", after=fault)
        down = daemon.wait_log(r"link isp2: up -> down \(3 rounds failed", after=fault, timeout=20)
        peak = link_status(lab3, "isp1")["peak_rx_kbit_s"]
    assert fault < floor < down, daemon.log()
    assert down - fault < 10, daemon.log()  # the regular rounds alone: 3 x 5 s
    assert not re.search(r"link isp[13]: traffic floor", daemon.log()), daemon.log()
    assert isinstance(peak, float)
    assert peak > 8  # the capacity a healthy link has shown


def test_a_slow_but_healthy_link_is_not_taken_down(lab3: Lab) -> None:
    """Every handshake takes 1 s (the far servers drop each first SYN), ten times
    passive_timeout: the watcher learns the links' handshake time and reports the late
    answers as answers, so no link goes down and every connection succeeds."""
    far_servers(lab3)
    slow_handshakes(lab3)
    health = passive_health(lab3, "passive_down = true\n", interval=0.5)
    with (
        LabDaemon(lab3, lab_config(lab3, health=health)) as daemon,
        Users(lab3, FAR[:4], interval=0.05, timeout=3.0) as users,
    ):
        time.sleep(6.0)
        answered = [link_status(lab3, f"isp{n}")["passive"] for n in (1, 2, 3)]
        log = daemon.log()
    assert "passive alarm" not in log, log
    assert "-> down" not in log, log
    done = [a for a in users.attempts if a.started < users.attempts[-1].started - 3.0]
    assert len(done) > 40, len(done)
    slow = [a for a in done if not a.failed]
    assert len(slow) == len(done), [a for a in done if a.failed][:5]
    assert all(p["answered"] > 0 for p in answered), answered  # type: ignore[index]
