"""Render the daemon's status for people: one row per link, then what the config has of
rules, client pools and services."""

import datetime
from typing import Any

from rich.console import Group
from rich.table import Table

STATE_STYLE = {"up": "green", "degraded": "yellow", "down": "red", "absent": "red",
               "disabled": "dim"}  # fmt: skip


def _number(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def _passive(passive: dict[str, Any] | None) -> str:
    """Users' handshakes answered/unanswered, and the alarms they raised (watched links)."""
    if passive is None:
        return "-"
    alarms = passive["alarms"]
    return f"{passive['answered']}/{passive['unanswered']}" + (f" ({alarms}!)" if alarms else "")


def _weight(link: dict[str, Any]) -> str:
    """The weight in force; an auto link's says so, with the capacity it stands for."""
    auto = link.get("auto_weight")
    if auto is None:
        return str(link["weight"])
    capacity = auto["capacity_kbit_s"]
    shown = "-" if capacity is None else f"{capacity / 1000:.1f} Mbit/s"
    return f"{link['weight']} (auto: {shown})"


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
                   "conns (share)", "kbit/s rx/tx", "pps rx/tx",
                   "peak kbit/s rx/tx", "passive ok/failed (alarms)"):  # fmt: skip
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
            _weight(link),
            "yes" if link["taking_new"] else "no",
            f"{link.get('connections', '-')} ({_number(link.get('share_pct'), '%')})",
            f"{_number(link.get('rx_kbit_s'))}/{_number(link.get('tx_kbit_s'))}",
            f"{_number(link.get('rx_pps'))}/{_number(link.get('tx_pps'))}",
            f"{_number(link.get('peak_rx_kbit_s'))}/{_number(link.get('peak_tx_kbit_s'))}",
            _passive(link.get("passive")),
        )
    return table


def tunnels_table(links: list[dict[str, Any]]) -> Table:
    """Tunnel links' processes: kind, base link, what runs it (kernel, wireguard-go,
    openvpn), state, pid, restarts, why the last ended."""
    table = Table(title="Tunnels")
    for column in ("link", "kind", "over", "runs", "process", "pid", "restarts", "last exit"):
        table.add_column(column)
    for link in links:
        if tunnel := link.get("tunnel"):
            table.add_row(
                link["name"], tunnel["kind"], tunnel["over"], tunnel["implementation"] or "-",
                tunnel["process"],
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


def rules_table(rules: list[dict[str, Any]]) -> Table:
    """New connections each rule sent since the table was made (its nft counter)."""
    table = Table(title="Rules")
    for column in ("rule", "via", "connections"):
        table.add_column(column, justify="right" if column == "connections" else "left")
    for rule in rules:
        name = rule["name"] or f"rules[{rule['index']}]"
        table.add_row(name, rule["via"], str(rule["connections"]))
    return table


def pools_table(pools: dict[str, dict[str, list[str]]]) -> Table:
    """The LAN clients each least-loaded policy seated on each link."""
    table = Table(title="Client pools")
    for column in ("policy", "link", "clients", "addresses"):
        table.add_column(column, justify="right" if column == "clients" else "left")
    for policy, links in pools.items():
        for index, (link, addresses) in enumerate(sorted(links.items())):
            shown = policy if index == 0 else ""
            table.add_row(shown, link, str(len(addresses)), " ".join(addresses))
    return table


def status_view(status: dict[str, Any]) -> Group:
    """Everything `status` and `watch` show: links (an inbound balancer has none), then
    rules, client pools and services where the config has them."""
    parts: list[Table] = []
    if status["links"] or not status.get("services"):
        parts.append(status_table(status))
    if status.get("rules"):
        parts.append(rules_table(status["rules"]))
    if status.get("pools"):
        parts.append(pools_table(status["pools"]))
    if any(link.get("tunnel") for link in status["links"]):
        parts.append(tunnels_table(status["links"]))
    if status.get("services"):
        parts.append(services_table(status["services"]))
    return Group(*parts)
