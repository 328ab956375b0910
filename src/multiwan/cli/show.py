"""`multiwan show`: what multiwan owns in the kernel right now, for people and machines."""

from typing import Any

from rich.console import Console
from rich.table import Table

from multiwan.core.nft import TABLE
from multiwan.kernel import netlink
from multiwan.kernel.reconcile import Kernel, nft_digests


def collect(kernel: Kernel) -> dict[str, Any]:
    """A JSON-ready snapshot: table present, per-link counters, rules, routes."""
    digests = nft_digests(kernel.nft.list_json(f"table {TABLE}"))
    counters = {}
    if digests is not None:
        for item in kernel.nft.list_json(f"counters table {TABLE}") or []:
            counter = item.get("counter")
            if counter and counter["name"].startswith("new_"):
                name = counter["name"].removeprefix("new_")
                counters[name] = {"new_connections": counter["packets"]}
    return {
        "nft_table": TABLE if digests is not None else None,
        "nft_static_digest": digests.static if digests else None,
        "nft_dynamic": dict(digests.dynamic) if digests else {},
        "links": counters,
        "rules": [r.render() for r in sorted(netlink.read_rules(kernel.ipr))],
        "routes": [r.render() for r in sorted(netlink.read_routes(kernel.ipr))],
    }


def render(state: dict[str, Any]) -> None:
    console = Console()
    if state["nft_table"] is None:
        console.print("multiwan is not applied here (no nft table inet multiwan).")
    links = Table(title="New connections per link")
    links.add_column("link")
    links.add_column("new connections", justify="right")
    for name, values in sorted(state["links"].items()):
        links.add_row(name, str(values["new_connections"]))
    console.print(links)
    for title in ("rules", "routes"):
        console.print(f"[bold]{title}[/bold]")
        for line in state[title] or ["(none)"]:
            console.print(f"  {line}", highlight=False)
