"""`status` for people: the links, then rules with their counts, client pools and services
where the config has them."""

from typing import Any

from rich.console import Console

from multiwan.cli.status import status_view


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
