"""Render the daemon's status for people: one row per link."""

import datetime
from typing import Any

from rich.table import Table

STATE_STYLE = {"up": "green", "degraded": "yellow", "down": "red", "absent": "red",
               "disabled": "dim"}  # fmt: skip


def _number(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def status_table(status: dict[str, Any]) -> Table:
    runtime = status["runtime"]
    changed = {k: v for k, v in runtime.items() if v}
    title = f"default policy {status['default_policy']}"
    if changed:
        title += f" (runtime changes until reload: {changed})"
    if status.get("persisted_mode"):
        title += f" (persisted mode: {', '.join(status['persisted_mode'])})"
    table = Table(title=title)
    for column in ("link", "state", "since", "reason", "latency", "loss", "weight", "new",
                   "conns (share)", "kbit/s rx/tx", "pps rx/tx"):  # fmt: skip
        table.add_column(column, justify="right" if column not in ("link", "reason") else "left")
    for link in status["links"]:
        since = datetime.datetime.fromtimestamp(link["since"]).strftime("%H:%M:%S")
        state = link["state"] + (" (drained)" if link["drained"] else "")
        table.add_row(
            link["name"],
            f"[{STATE_STYLE.get(link['state'], '')}]{state}[/]",
            since,
            link["reason"],
            _number(link["latency_ms"], " ms"),
            _number(link["loss_pct"], "%"),
            str(link["weight"]),
            "yes" if link["taking_new"] else "no",
            f"{link.get('connections', '-')} ({_number(link.get('share_pct'), '%')})",
            f"{_number(link.get('rx_kbit_s'))}/{_number(link.get('tx_kbit_s'))}",
            f"{_number(link.get('rx_pps'))}/{_number(link.get('tx_pps'))}",
        )
    return table


def tunnels_table(links: list[dict[str, Any]]) -> Table:
    """Tunnel links' processes: kind, base link, state, pid, restarts, why the last ended."""
    table = Table(title="Tunnels")
    for column in ("link", "kind", "over", "process", "pid", "restarts", "last exit"):
        table.add_column(column)
    for link in links:
        if tunnel := link.get("tunnel"):
            table.add_row(
                link["name"], tunnel["kind"], tunnel["over"], tunnel["process"],
                str(tunnel["pid"] or "-"), str(tunnel["restarts"]), tunnel["last_exit"] or "-",
            )  # fmt: skip
    return table


def services_table(services: dict[str, Any]) -> Table:
    table = Table(title="Services")
    for column in ("service", "listen", "backend", "state", "reason", "latency", "weight",
                   "new", "conns", "rejected"):  # fmt: skip
        table.add_column(column)
    for name, service in services.items():
        listen = f"{','.join(service['listen'])}:{','.join(map(str, service['ports']))}"
        for index, row in enumerate(service["backends"]):
            role = " (backup)" if row["backup"] else ""
            state = row["state"] + (" (drained)" if row["drained"] else "")
            table.add_row(
                name if index == 0 else "",
                f"{listen} {service['protocol']} {service['scheduler']}" if index == 0 else "",
                row["backend"] + role,
                f"[{STATE_STYLE.get(row['state'], '')}]{state}[/]",
                row["reason"],
                _number(row["latency_ms"], " ms"),
                str(row["weight"]),
                "yes" if row["taking_new"] else "no",
                str(row.get("connections", 0)),
                str(service["rejected"]) if index == 0 else "",
            )
    return table
