"""Inbound service balancing: connections per second through the virtual IP against the
client spreading itself over the same backends (same run, interleaved), and the time from
a backend's death to the balancer no longer sending it new connections."""

import json
import statistics
import sys
import time
from dataclasses import dataclass, field

from multiwan.lab.backends import VIP, add_backends, kill_backend, start_backend
from multiwan.lab.configs import lab_config
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.netns import Netns
from multiwan.lab.topology import lab_world

PREFIX = "mwb-"


@dataclass
class ServiceBench:
    vip_cps: list[float] = field(default_factory=list)
    direct_cps: list[float] = field(default_factory=list)
    death: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Median of the ratios of back-to-back pairs: the pair shares the machine's load of
        the moment, which on a shared machine moves more than the two paths differ."""
        pairs = zip(self.vip_cps, self.direct_cps, strict=True)
        return statistics.median(vip / direct for vip, direct in pairs)


def _cps(client: Netns, dst: str, count: int) -> float:
    out = client.run(
        sys.executable, "-m", "multiwan.lab.traffic", "tcp", "--dst", dst, "--port", "25",
        "--count", str(count), "--concurrency", "50", "--timeout", "3", timeout=300,
    )  # fmt: skip
    raw = json.loads(out.stdout)
    if raw["failed"]:
        raise RuntimeError(f"{raw['failed']} connections failed to {dst}")
    return float(count / raw["seconds"])


def measure_services(rounds: int = 5, count: int = 2000, trials: int = 5) -> ServiceBench:
    result = ServiceBench()
    with lab_world(PREFIX, n_isps=1) as lab:
        backends = add_backends(lab, 3)
        rows = ", ".join(f'{{ address = "{b.address}" }}' for b in backends)
        config = lab_config(lab) + (
            f'\n[services.smtp]\nlisten = ["{VIP}"]\nports = [25]\nbackends = [{rows}]\n'
            'check = { kind = "smtp", interval = 0.1, timeout = 0.1, rise = 2, fall = 2 }\n'
        )
        lab.multiwan("apply", config=config)
        client, direct = lab.clients[0], ",".join(b.address for b in backends)
        # Tens of thousands of connections to one VIP:port would otherwise run the client out
        # of ephemeral ports (TIME_WAIT), a cost of the client, not of the path measured.
        client.sysctl("net.ipv4.ip_local_port_range", "1024 65535")
        client.sysctl("net.ipv4.tcp_tw_reuse", "1")
        _cps(client, VIP, 200)  # warm up
        for turn in range(rounds):  # alternate which path goes first
            if turn % 2:
                result.direct_cps.append(_cps(client, direct, count))
                result.vip_cps.append(_cps(client, VIP, count))
            else:
                result.vip_cps.append(_cps(client, VIP, count))
                result.direct_cps.append(_cps(client, direct, count))
        with LabDaemon(lab, config) as daemon:
            for _ in range(trials):
                for kind in ("process killed", "host silent"):
                    victim = backends[0]
                    started = time.monotonic()
                    if kind == "process killed":
                        kill_backend(victim)
                    else:
                        victim.blackhole()
                    down = daemon.wait_log(r"backend 10\.20\.0\.11:25 up -> down", after=started)
                    result.death.setdefault(kind, []).append(down - started)
                    if kind == "process killed":
                        start_backend(lab, victim)
                    else:
                        victim.revive()
                    daemon.wait_log(r"backend 10\.20\.0\.11:25 down -> up", after=down)
    return result
