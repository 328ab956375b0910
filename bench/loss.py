"""20 % packet loss on one link: it must settle (degraded) once, not flap, while new
connections keep succeeding."""

import contextlib
import time
from dataclasses import dataclass

from multiwan.lab.configs import lab_config, lossy_health
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.topology import lab_world

PREFIX = "mwb-"


@dataclass
class LossResult:
    transitions: list[str]
    time_to_settle: float | None
    connections: int
    failed: int


def measure_loss(seconds: float = 20.0, percent: int = 20) -> LossResult:
    with lab_world(PREFIX) as lab:
        health = lossy_health(lab)
        with LabDaemon(lab, lab_config(lab, health=health)) as daemon:
            time.sleep(2)
            start = time.monotonic()
            lab.isps[1].loss(percent)
            connections = failed = 0
            while time.monotonic() - start < seconds:
                result = lab.flows(count=40, timeout=3.0)
                connections += result.total + result.failed
                failed += result.failed
                time.sleep(0.2)
            # The line after its level (INFO, or WARNING for a change into trouble).
            lines = [line for _, line in daemon.lines if "link isp2:" in line]
            transitions = [line[line.index("link isp2:") :] for line in lines]
            settled = None
            with contextlib.suppress(TimeoutError):
                settled = daemon.wait_log("isp2: up -> ", timeout=0.1, after=start) - start
    return LossResult(transitions, settled, connections, failed)
