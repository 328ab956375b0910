"""`multiwan demo`: a 3-ISP world in network namespaces, balanced by the real daemon.

It builds the world (namespaces named mwd-*), runs `multiwan run` on the router, sends real
connections from a LAN client, kills one ISP's internet while traffic flows, shows the
traffic moving away and back after repair (and a long-lived connection on a healthy link
untouched), then removes everything, also when interrupted.
"""

import time

from rich.console import Console
from rich.table import Table

from multiwan.lab.configs import lab_config, probe_health
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.longflow import LongFlow
from multiwan.lab.netns import cleanup_stale
from multiwan.lab.topology import Lab, lab_world

DEMO_PREFIX = "mwd-"
WEIGHTS = (1, 2, 3)
RULES = """
[[rules]]
name = "ssh-via-isp1"
proto = "tcp"
dport = [22]
via = "isp1"
"""


class Demo:
    def __init__(self, lab: Lab, console: Console) -> None:
        self.lab, self.console = lab, console
        self.table = Table(title="New connections per ISP (each NATs to its own address)")
        self.table.add_column("moment")
        for isp in lab.isps:
            self.table.add_column(isp.name, justify="right")
        self.table.add_column("failed", justify="right")

    def traffic(self, moment: str, count: int = 300) -> None:
        result = self.lab.flows(count=count, timeout=1.0)
        cells = [f"{n} ({n / max(result.total, 1):.0%})" for n in result.per_isp.values()]
        self.table.add_row(moment, *cells, str(result.failed))
        split = ", ".join(f"{isp} {n}" for isp, n in result.per_isp.items())
        self.console.print(f"  {count} new connections, {moment}: {split}, failed {result.failed}")

    def event(self, daemon: LabDaemon, pattern: str, since: float) -> None:
        stamp = daemon.wait_log(pattern, after=since)
        line = next(text for at, text in daemon.lines if at == stamp)
        self.console.print(f"  after {stamp - since:.2f} s the daemon logged: "
                           f"[bold]{line.split('INFO ', 1)[-1]}[/bold]")  # fmt: skip

    def run(self) -> None:
        lab, console = self.lab, self.console
        config = lab_config(lab, weights=WEIGHTS, extra=RULES, health=probe_health(lab))
        console.rule("config of the router (weights 1:2:3, ICMP probe every 200 ms)")
        console.print(config, markup=False, highlight=False)
        with LabDaemon(lab, config) as daemon:
            console.rule("multiwan run is balancing")
            self.traffic("all ISPs up")
            ssh = lab.flows(count=50, port=22)
            console.print(f"  50 connections to port 22 (rule: via isp1): {ssh.per_isp}")
            with LongFlow(lab.clients[0]) as flow:
                (source,) = flow.sources()
                console.print(f"  a long-lived connection runs via {lab.isp_for_source(source)}")
                console.rule("isp2's internet dies (its modem stays up)")
                fault = time.monotonic()
                lab.isps[1].blackhole()
                self.event(daemon, r"link isp2: up -> down", fault)
                self.traffic("isp2 dead")
                console.rule("isp2 is repaired")
                repair = time.monotonic()
                lab.isps[1].restore()
                self.event(daemon, r"link isp2: down -> up", repair)
                self.traffic("isp2 back")
                if lab.isps[1].public not in flow.sources():
                    state = "broken" if flow.broken() else "untouched"
                    console.print(f"  the long-lived connection on a healthy link: {state}, "
                                  f"{len(flow.replies())} echoes")  # fmt: skip
        console.print(self.table)
        console.rule("flush")
        lab.multiwan("flush")
        left = lab.router.run("nft", "list", "tables").stdout.strip() or "none"
        console.print(f"multiwan flushed; nft tables left on the router: {left}")


def run_demo() -> None:
    console = Console()
    stale = cleanup_stale(DEMO_PREFIX)
    if stale:
        console.print(f"removed {len(stale)} namespaces left by an earlier demo")
    console.print("building: LAN client -> router -> isp1, isp2, isp3 (each NATs) -> internet")
    with lab_world(DEMO_PREFIX) as lab:
        Demo(lab, console).run()
    console.print("all demo namespaces removed")
