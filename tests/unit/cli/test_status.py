"""`multiwan status` for people: the passive signal's column."""

from typing import Any

from rich.console import Console

from multiwan.cli.status import status_table

LINK: dict[str, Any] = {
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
    text = rendered({**LINK, **peaks, "passive": passive}, {**LINK, "name": "isp2"})
    assert "passive ok/failed (alarms)" in text
    assert "40000/2000" in text
    row1, row2 = (line for line in text.splitlines() if "isp1" in line or "isp2" in line)
    assert row1.rstrip(" │").endswith("90/7 (1!)")
    assert row2.rstrip(" │").endswith("-")
