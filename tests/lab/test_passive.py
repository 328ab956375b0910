"""The passive failure signal against the real daemon: the users' own new TCP connections
(conntrack events) take a blackholed link out before the probes would have, and neither an
idle link nor one far server that never answers trips a healthy link."""

import json
import re
import sys
import threading
import time
from dataclasses import dataclass

import pytest

from multiwan.lab.configs import lab_config, probe_health
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.topology import Lab

pytestmark = pytest.mark.lab

#: Far servers behind every ISP (the lab's whoami servers listen on every address), so the
#: users' connections go to several destinations as real users' do.
FAR = ("203.0.113.11", "203.0.113.12", "203.0.113.13", "203.0.113.14")
DEAD = "203.0.113.20"  # a far server that never answers


def passive_health(lab: Lab, extra: str = "") -> str:
    """Probes every 0.2 s, 3 to fall; users' connections watched, unanswered after 0.1 s."""
    return probe_health(lab, extra="passive = true\npassive_timeout = 0.1\n" + extra)


def far_servers(lab: Lab) -> None:
    for address in (*FAR, DEAD):
        lab.inet.run("ip", "addr", "add", f"{address}/32", "dev", "lo")
    lab.inet.run(
        "nft", "-f", "-",
        input="table inet dead {\n chain input { type filter hook input priority -10;"
        f" ip daddr {DEAD} drop; }}\n}}\n",
    )  # fmt: skip


@dataclass(frozen=True)
class Attempt:
    started: float
    destination: str
    outcome: str  # the source the server saw, or FAIL:<why>


class Users:
    """`multiwan.lab.traffic steady` in the client: a new connection every `interval`."""

    def __init__(self, lab: Lab, destinations: tuple[str, ...], interval: float) -> None:
        self.proc = lab.start(
            lab.clients[0], sys.executable, "-m", "multiwan.lab.traffic", "steady",
            "--dst", ",".join(destinations), "--port", "80", "--interval", str(interval),
            "--timeout", "1.0",
        )  # fmt: skip
        self.attempts: list[Attempt] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            started, destination, outcome = line.split()
            self.attempts.append(Attempt(float(started), destination, outcome))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def failed_after(self, since: float) -> list[Attempt]:
        return [a for a in self.attempts if a.started >= since and a.outcome.startswith("FAIL")]


def link_status(lab: Lab, name: str) -> dict[str, object]:
    links = json.loads(lab.multiwan("status", "--json").stdout)["links"]
    found: dict[str, object] = next(link for link in links if link["name"] == name)
    return found


def test_blackhole_under_users_traffic_is_caught_by_their_connections_first(lab3: Lab) -> None:
    """passive_down: the users' unanswered connections take the link down before three
    probe rounds could have failed (the log shows the passive alarm, then the transition
    with the passive reason), and new connections soon stop failing."""
    far_servers(lab3)
    config = lab_config(lab3, health=passive_health(lab3, "passive_down = true\n"))
    with LabDaemon(lab3, config) as daemon:
        users = Users(lab3, FAR, interval=0.02)
        try:
            time.sleep(1.0)
            assert not users.failed_after(0), users.attempts[-10:]
            fault = time.monotonic()
            lab3.isps[0].blackhole()
            alarm = daemon.wait_log(r"link isp1: passive alarm: ", after=fault)
            down = daemon.wait_log(r"link isp1: up -> down \(passive: new connections", after=fault)
            time.sleep(1.5)
            passive = link_status(lab3, "isp1")["passive"]
            assert passive["alarms"] == 1, passive  # type: ignore[index]
            assert "isp1" in lab3.multiwan("status").stdout
        finally:
            users.stop()
    assert fault < alarm <= down, daemon.log()
    assert not re.search(r"isp1: .*rounds failed", daemon.log()), daemon.log()
    failed = users.failed_after(fault)
    assert failed, "the blackhole failed no connection: the test proves nothing"
    assert {a.outcome for a in users.attempts if a.started > down + 0.2} & {
        "FAIL:TimeoutError"
    } == set()
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
        users = Users(lab3, (DEAD,), interval=0.02)
        try:
            time.sleep(3.0)
        finally:
            users.stop()
        assert "passive alarm" not in daemon.log(), daemon.log()
        statuses = [link_status(lab3, isp.name) for isp in lab3.isps]
    assert {s["state"] for s in statuses} == {"up"}, statuses
    unanswered = [s["passive"]["unanswered"] for s in statuses]  # type: ignore[index]
    assert all(n > 5 for n in unanswered), statuses  # the watcher saw them all fail
