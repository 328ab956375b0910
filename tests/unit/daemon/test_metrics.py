"""Metrics exposition, and the shipped Grafana dashboard uses only metrics that exist."""

import json
import re
from pathlib import Path
from typing import Any, cast

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from multiwan.daemon.engine import Engine
from multiwan.daemon.metrics import EngineCollector
from multiwan.daemon.report import Published

DASHBOARD = Path(__file__).parents[3] / "contrib" / "grafana-dashboard.json"

LINK = {
    "name": "wan1", "state": "up", "latency_ms": 12.5, "loss_pct": 2.0, "weight": 3,
    "rx_bytes": 1000, "tx_bytes": 2000, "peak_rx_kbit_s": 40000.0, "peak_tx_kbit_s": 2500.5,
    "passive": {"answered": 90, "unanswered": 7, "suspect_destinations": 2, "alarms": 1,
                "last_alarm": "new connections to 3 destinations unanswered (a, b, c)"},
    "auto_weight": {"weight": 3, "reason": "capacity 3.2 Mbit/s", "changes": 5,
                    "capacity_kbit_s": 3200, "measured_kbit_s": None},
}  # fmt: skip
TUNNEL = {
    **LINK, "name": "vpn1", "passive": None,
    "tunnel": {"kind": "wireguard", "over": "wan1", "implementation": "wireguard-go",
               "process": "running", "pid": 812, "restarts": 3, "last_exit": None},
}  # fmt: skip
STARTING = {
    **TUNNEL, "name": "vpn2",
    "tunnel": {"kind": "openvpn", "over": "wan1", "implementation": None,
               "process": "starting", "pid": None, "restarts": 0, "last_exit": None},
}  # fmt: skip


SERVICES = {
    "smtp": {
        "rejected": 3,
        "backends": [
            {"backend": "10.20.0.11:25", "state": "up", "latency_ms": 1.5, "taking_new": True,
             "connections": 17},
            {"backend": "10.20.0.12:25", "state": "down", "latency_ms": None,
             "taking_new": False, "connections": 4},
        ],
    }
}  # fmt: skip


class FakeEngine:
    published = Published(
        status={
            "links": [LINK, TUNNEL, STARTING],
            "services": SERVICES,
            "rules": [
                {"index": 0, "name": "ssh-wired", "via": "wan1", "connections": 7},
                {"index": 1, "name": None, "via": "main", "connections": 0},
            ],
        },
        transitions={("wan1", "down"): 2, ("wan1", "up"): 2},
        new_connections={"wan1": 41},
        apply_count=4,
        apply_seconds=0.002,
    )


def exposition() -> str:
    registry = CollectorRegistry()
    registry.register(EngineCollector(cast(Engine, FakeEngine())))
    return generate_latest(registry).decode()


def test_metrics_render_the_published_view() -> None:
    text = exposition()
    assert 'multiwan_link_state{link="wan1",state="up"} 1.0' in text
    assert 'multiwan_link_state{link="wan1",state="down"} 0.0' in text
    assert 'multiwan_link_latency_seconds{link="wan1"} 0.0125' in text
    assert 'multiwan_link_loss_ratio{link="wan1"} 0.02' in text
    assert 'multiwan_link_transitions_total{link="wan1",state="down"} 2.0' in text
    assert 'multiwan_link_connections_total{link="wan1"} 41.0' in text
    assert "multiwan_policy_update_seconds_count 4.0" in text
    assert 'multiwan_rule_connections_total{rule="ssh-wired",via="wan1"} 7.0' in text
    assert 'multiwan_rule_connections_total{rule="rules[1]",via="main"} 0.0' in text
    assert 'multiwan_link_passive_handshakes_total{link="wan1",outcome="answered"} 90.0' in text
    assert 'multiwan_link_passive_handshakes_total{link="wan1",outcome="unanswered"} 7.0' in text
    assert 'multiwan_link_passive_suspect_destinations{link="wan1"} 2.0' in text
    assert 'multiwan_link_passive_alarms_total{link="wan1"} 1.0' in text
    assert 'multiwan_link_peak_receive_bits_per_second{link="wan1"} 4e+07' in text
    assert 'multiwan_link_peak_transmit_bits_per_second{link="wan1"} 2.5005e+06' in text
    assert 'multiwan_link_auto_capacity_bits_per_second{link="wan1"} 3.2e+06' in text
    assert 'multiwan_link_auto_weight_changes_total{link="wan1"} 5.0' in text


def test_dashboard_queries_only_existing_metrics() -> None:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"multiwan_[a-z_]+", expr)}
    exposed = set(re.findall(r"^(multiwan_[a-z_]+)", exposition(), re.MULTILINE))
    assert used <= exposed, used - exposed


def test_the_daemons_survived_failures_are_counted() -> None:
    registry = CollectorRegistry()
    errors = {"probe": 2, "hooks": 1}
    registry.register(EngineCollector(cast(Engine, FakeEngine()), lambda: errors))
    text = generate_latest(registry).decode()
    assert 'multiwan_daemon_errors_total{what="probe"} 2.0' in text
    assert 'multiwan_daemon_errors_total{what="hooks"} 1.0' in text


def test_services_export_backend_state_latency_connections_and_rejections() -> None:
    text = exposition()
    up = 'backend="10.20.0.11:25",service="smtp"'
    down = 'backend="10.20.0.12:25",service="smtp"'
    assert f'multiwan_backend_state{{{up},state="up"}} 1.0' in text
    assert f'multiwan_backend_state{{{down},state="down"}} 1.0' in text
    assert f'multiwan_backend_state{{{down},state="up"}} 0.0' in text
    assert f"multiwan_backend_check_latency_seconds{{{up}}} 0.0015" in text
    assert f"multiwan_backend_check_latency_seconds{{{down}}}" not in text
    assert f"multiwan_backend_connections_total{{{up}}} 17.0" in text
    assert f"multiwan_backend_taking_new{{{down}}} 0.0" in text
    assert 'multiwan_service_rejected_total{service="smtp"} 3.0' in text


def test_tunnels_export_whether_they_run_what_runs_them_and_their_restarts() -> None:
    text = exposition()
    labels = 'implementation="wireguard-go",kind="wireguard",link="vpn1",over="wan1"'
    assert f"multiwan_tunnel_running{{{labels}}} 1.0" in text
    assert 'multiwan_tunnel_restarts_total{kind="wireguard",link="vpn1",over="wan1"} 3.0' in text
    labels = 'implementation="none",kind="openvpn",link="vpn2",over="wan1"'
    assert f"multiwan_tunnel_running{{{labels}}} 0.0" in text
    assert 'multiwan_tunnel_restarts_total{kind="openvpn",link="vpn2",over="wan1"} 0.0' in text
    assert text.count("multiwan_tunnel_running{") == 2  # tunnel links only
