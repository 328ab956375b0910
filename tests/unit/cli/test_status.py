"""`status` for people: the links (with the passive signal's column), then rules with their
counts, client pools and services where the config has them."""

from typing import Any

from rich.console import Console

from multiwan.cli.status import status_table, status_view


def render(status: dict[str, Any]) -> str:
    console = Console(width=200, record=True)
    console.print(status_view(status))
    return console.export_text()


LINK = {
    "name": "isp1",
    "state": "up",
    "since": 0,
    "reason": "",
    "latency_ms": 12.5,
    "loss_pct": 0,
    "weight": 2,
    "drained": False,
    "taking_new": True,
}
STATUS: dict[str, Any] = {
    "default_policy": "lan",
    "runtime": {},
    "persisted_mode": [],
    "links": [LINK],
    "rules": [
        {"index": 0, "name": "banking", "via": "isp1", "connections": 17},
        {"index": 1, "name": None, "via": "lan", "connections": 0},
    ],
    "pools": {"lan": {"isp2": ["10.0.0.3"], "isp1": ["10.0.0.2", "fd00::2"]}},
    "services": {},
}


def test_rules_show_their_connections_and_pools_their_clients_per_link() -> None:
    lines = render(STATUS).splitlines()
    assert any(line.split()[:3] == ["│", "isp1", "│"] for line in lines)
    rows = [line.replace("│", " ").split() for line in lines]
    assert ["banking", "isp1", "17"] in rows
    assert ["rules[1]", "lan", "0"] in rows
    assert ["lan", "isp1", "2", "10.0.0.2", "fd00::2"] in rows
    assert ["isp2", "1", "10.0.0.3"] in rows


def test_without_rules_pools_or_services_only_the_links_show() -> None:
    text = render({**STATUS, "rules": [], "pools": {}})
    assert "default policy lan" in text
    assert "Rules" not in text
    assert "Client pools" not in text
    assert "Services" not in text


DOWN: dict[str, Any] = {
    "name": "isp1", "state": "down", "since": 0.0, "reason": "passive: new connections",
    "latency_ms": None, "loss_pct": None, "weight": 1, "drained": False, "taking_new": False,
}  # fmt: skip


def rendered(*links: dict[str, Any]) -> str:
    status = {"runtime": {}, "default_policy": "all", "links": list(links)}
    console = Console(width=300, record=True)
    console.print(status_table(status))
    return console.export_text()


def test_watched_links_show_their_handshakes_and_alarms_others_a_dash() -> None:
    passive = {"answered": 90, "unanswered": 7, "suspect_destinations": 0, "alarms": 1}
    peaks = {"peak_rx_kbit_s": 40000.0, "peak_tx_kbit_s": 2000.0}
    text = rendered({**DOWN, **peaks, "passive": passive}, {**DOWN, "name": "isp2"})
    assert "passive ok/failed (alarms)" in text
    assert "40000/2000" in text
    row1, row2 = (line for line in text.splitlines() if "isp1" in line or "isp2" in line)
    assert row1.rstrip(" │").endswith("90/7 (1!)")
    assert row2.rstrip(" │").endswith("-")


def test_an_auto_link_shows_its_weight_as_measured_others_the_number() -> None:
    auto = {"weight": 38, "reason": "capacity 38.4 Mbit/s", "changes": 1,
            "capacity_kbit_s": 38400, "measured_kbit_s": None}  # fmt: skip
    unmeasured = {**auto, "weight": 10, "capacity_kbit_s": None}
    text = rendered(
        {**DOWN, "weight": 38, "auto_weight": auto},
        {**DOWN, "name": "isp2", "weight": 10, "auto_weight": unmeasured},
        {**DOWN, "name": "isp3", "weight": 2},
    )
    cells = [[c.strip() for c in line.split("│")] for line in text.splitlines() if "isp" in line]
    assert [row[7] for row in cells] == ["38 (auto: 38.4 Mbit/s)", "10 (auto: -)", "2"]


def test_tunnels_show_what_runs_them() -> None:
    kernel = {"kind": "wireguard", "over": "isp1", "implementation": "kernel",
              "process": "running", "pid": None, "restarts": 0, "last_exit": None}  # fmt: skip
    userspace = {**kernel, "over": "isp2", "implementation": "wireguard-go", "pid": 4321,
                 "restarts": 2, "last_exit": "killed by signal 9 (SIGKILL)"}  # fmt: skip
    links = [
        {**LINK, "name": "vpn1", "tunnel": kernel},
        {**LINK, "name": "vpn2", "tunnel": userspace},
    ]
    rows = [
        line.replace("│", " ").split() for line in render({**STATUS, "links": links}).splitlines()
    ]
    assert ["vpn1", "wireguard", "isp1", "kernel", "running", "-", "0", "-"] in rows
    assert ["vpn2", "wireguard", "isp2", "wireguard-go", "running", "4321", "2", "killed", "by",
            "signal", "9", "(SIGKILL)"] in rows  # fmt: skip
