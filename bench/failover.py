"""Failover and failback times against real faults, with flows on healthy links watched.

Every timing is from the moment the fault (or repair) is injected to the daemon's log line
saying the new policy is in the kernel; a batch of new connections then checks that they
really avoid (or use again) the link.
"""

import statistics
import time
from dataclasses import dataclass, field

from multiwan.lab.configs import lab_config, probe_health
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.longflow import LongFlow
from multiwan.lab.topology import Lab, lab_world

PREFIX = "mwb-"


@dataclass
class Timings:
    samples: dict[str, list[float]] = field(default_factory=dict)
    disrupted: int = 0
    healthy_flows: int = 0
    checks_failed: list[str] = field(default_factory=list)

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)

    def rows(self) -> list[tuple[str, str, str, int]]:
        return [
            (name, f"{statistics.median(v) * 1000:.0f}", f"{max(v) * 1000:.0f}", len(v))
            for name, v in self.samples.items()
        ]


def _avoids(lab: Lab, isp: str, timings: Timings, what: str) -> None:
    result = lab.flows(count=30, timeout=1.0)
    if result.failed or result.per_isp[isp]:
        timings.checks_failed.append(f"{what}: {result}")


def _uses(lab: Lab, isp: str, timings: Timings, what: str) -> None:
    result = lab.flows(count=60, timeout=1.0)
    if result.failed or not result.per_isp[isp]:
        timings.checks_failed.append(f"{what}: {result}")


def _trial(lab: Lab, daemon: LabDaemon, timings: Timings) -> None:
    isp = lab.isps[1]
    flows = [LongFlow(lab.clients[0]).__enter__() for _ in range(6)]
    try:
        # modem alive, internet dead
        fault = time.monotonic()
        isp.blackhole()
        timings.add(
            "blackhole -> traffic moved", daemon.wait_log("isp2: up -> down", after=fault) - fault
        )
        _avoids(lab, "isp2", timings, "after blackhole")
        repair = time.monotonic()
        isp.restore()
        timings.add(
            "repair -> traffic back (rise=3)",
            daemon.wait_log("isp2: down -> up", after=repair) - repair,
        )
        _uses(lab, "isp2", timings, "after repair")
        # carrier loss
        fault = time.monotonic()
        isp.carrier_down()
        timings.add(
            "carrier loss -> traffic moved",
            daemon.wait_log("isp2: up -> down", after=fault) - fault,
        )
        isp.carrier_up()
        daemon.wait_log("isp2: down -> up", after=fault)
        # admin down and up: the kernel deletes the link's routes; they must come back
        fault = time.monotonic()
        lab.router.run("ip", "link", "set", isp.router_if, "down")
        daemon.wait_log("isp2: up -> down", after=fault)
        repair = time.monotonic()
        lab.router.run("ip", "link", "set", isp.router_if, "up")
        timings.add(
            "admin up -> traffic back (rise=3)",
            daemon.wait_log("isp2: down -> up", after=repair) - repair,
        )
        _uses(lab, "isp2", timings, "after admin down/up")
        # interface deleted (modem unplugged) and back
        fault = time.monotonic()
        lab.delete_uplink(isp)
        timings.add(
            "interface deleted -> traffic moved",
            daemon.wait_log("isp2: .* -> absent", after=fault) - fault,
        )
        _avoids(lab, "isp2", timings, "after deletion")
        repair = time.monotonic()
        lab.recreate_uplink(isp, isp.router_address)
        timings.add(
            "interface back -> traffic back",
            daemon.wait_log("isp2: .* -> up", after=repair, timeout=15) - repair,
        )
        _uses(lab, "isp2", timings, "after re-plug")
    finally:
        for flow in flows:
            if isp.public not in flow.sources():
                timings.healthy_flows += 1
                timings.disrupted += flow.broken() or len(flow.sources()) != 1
            flow.__exit__(None, None, None)


def measure_failover(trials: int = 5) -> Timings:
    timings = Timings()
    with lab_world(PREFIX) as lab:
        config = lab_config(lab, health=probe_health(lab, interval=0.2, fall=3, rise=3))
        with LabDaemon(lab, config) as daemon:
            for _ in range(trials):
                _trial(lab, daemon, timings)
    return timings
