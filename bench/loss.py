"""20 % packet loss on one link: it must settle (degraded) once, not flap, while new
connections keep succeeding."""

import contextlib
import time
from dataclasses import dataclass

from multiwan.lab.configs import lab_config
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
        targets = ", ".join(
            f'{{ kind = "icmp", host = "{host}" }}'
            for host in (lab.server_ip, "198.18.1.1", "198.18.2.1")
        )
        health = (
            f"targets = [{targets}]\ninterval = 0.2\ntimeout = 0.2\nfall = 3\nrise = 3\n"
            "window = 30\ndegraded_loss_pct = 10\ndown_loss_pct = 50\n"
            'degraded_action = "last_resort"\n'
        )
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
            transitions = [line.split("INFO ", 1)[1] for _, line in daemon.lines
                           if "link isp2:" in line]  # fmt: skip
            settled = None
            with contextlib.suppress(TimeoutError):
                settled = daemon.wait_log("isp2: up -> ", timeout=0.1, after=start) - start
    return LossResult(transitions, settled, connections, failed)
