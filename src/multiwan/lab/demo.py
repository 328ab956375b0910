"""`multiwan demo`: a 3-ISP world in network namespaces, balanced by a real multiwan.

It builds the world (namespaces named mwd-*), applies a config to the router, sends real
connections from a LAN client, shows which ISP carried how many, and removes everything,
also when interrupted.
"""

from rich.console import Console
from rich.table import Table

from multiwan.lab.configs import lab_config
from multiwan.lab.netns import cleanup_stale
from multiwan.lab.topology import Lab, TrafficResult, lab_world

DEMO_PREFIX = "mwd-"
WEIGHTS = (1, 2, 3)
RULES = """
[[rules]]
name = "ssh-via-isp1"
proto = "tcp"
dport = [22]
via = "isp1"
"""


def _table(title: str, result: TrafficResult, weights: tuple[int, ...] | None) -> Table:
    table = Table(title=title)
    table.add_column("ISP")
    table.add_column("connections", justify="right")
    table.add_column("share", justify="right")
    if weights:
        table.add_column("expected", justify="right")
    for index, (isp, count) in enumerate(sorted(result.per_isp.items())):
        row = [isp, str(count), f"{count / max(result.total, 1):.1%}"]
        if weights:
            row.append(f"{weights[index] / sum(weights):.1%}")
        table.add_row(*row)
    table.caption = f"{result.failed} failed"
    return table


def _run(lab: Lab, console: Console) -> None:
    config = lab_config(lab, weights=WEIGHTS, extra=RULES)
    console.rule("config applied on the router")
    console.print(config, highlight=False)
    lab.multiwan("apply", config=config)
    console.print(lab.multiwan("show").stdout, highlight=False)
    console.rule("traffic")
    console.print(_table("600 TCP connections from a LAN client", lab.flows(count=600), WEIGHTS))
    console.print(_table("300 from the router itself", lab.flows(count=300, client=lab.router),
                         WEIGHTS))  # fmt: skip
    console.print(_table("100 to port 22 (rule: via isp1)", lab.flows(count=100, port=22), None))
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
        _run(lab, console)
    console.print("all demo namespaces removed")
