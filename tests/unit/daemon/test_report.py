"""What `status` and the metrics view show: every field of a link, a rule and a backend,
read from one snapshot of the engine."""

import time
from dataclasses import replace
from typing import Any

import pytest

from multiwan.config.load import load_config_text
from multiwan.core.links import FamilyFacts, InterfaceFacts, resolve_links
from multiwan.core.linkstate import LinkHealth, RoundStats
from multiwan.core.passive import Passive
from multiwan.core.services import backend_counter
from multiwan.core.strategy import Availability
from multiwan.core.traffic import Traffic
from multiwan.daemon import report
from multiwan.daemon.rates import Rates
from multiwan.daemon.runtime import Runtime

CONFIG = """\
default_policy = "all"
[links.isp1]
interface = "wan1"
weight = 3
[links.isp2]
interface = "wan2"
[links.isp3]
interface = "wan3"
[policies.all]
links = ["isp1", "isp2", "isp3"]
[policies.spare]
strategy = "failover"
links = ["isp2"]
[[rules]]
name = "web"
via = "isp2"
[[rules]]
via = "main"
[services.dns]
listen = ["198.51.100.1"]
ports = [53, 54]
protocol = "udp"
backends = [
  { address = "10.0.0.1", weight = 2 },
  { address = "10.0.0.2", port = 5353, backup = true },
  { address = "10.0.0.3" },
]
"""


def snapshot() -> report.Snapshot:
    config = load_config_text(CONFIG, "m.toml")
    window = (RoundStats(1, 3, 0.0123456), RoundStats(3, 3, None))
    backend = LinkHealth("up", 10.0, "answers", "up", window=(RoundStats(1, 1, 0.002),))
    return report.Snapshot(
        config=config,
        health={
            "isp1": LinkHealth("up", 100.0, "2 good rounds", "up", window=window),
            "isp2": LinkHealth("degraded", 50.0, "latency 300 ms", "degraded"),
            "isp3": LinkHealth("down", 20.0, "2 rounds failed", "down"),
        },
        backends={("dns", "10.0.0.1:53"): backend},
        runtime=Runtime(
            drained=frozenset({"isp3"}), drained_backends=frozenset({"dns/10.0.0.2:5353"})
        ),
        persisted=("spare",),
        pools={"all": {"isp1": ["192.168.1.10"]}},
        rates={"isp1": Rates(1000.04, 20.0, 90.0, 10.0, 123, 45)},
        rejected={"dns": 4},
        available=Availability(frozenset({"isp1"}), frozenset({"isp2"}), {"isp2": 5}),
        live_backends={"dns": {"10.0.0.1:53"}},
        transitions={("isp3", "down"): 2},
        apply_count=5,
        apply_seconds=0.25,
        backend_connections={backend_counter("dns", 1): 9},
        rule_hits={1: 6},
        passive={"isp2": Passive(answered_total=7, unanswered_total=2, alarms=1)},
        traffic={"isp1": Traffic(samples=((0.0, 800.0, 30.0),))},
        tunnels={"isp3": {"process": "running"}},
    )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wall clock 1e9 s ahead of the monotonic one: `since` is shown as wall time."""
    monkeypatch.setattr(time, "time", lambda: 1e9 + 500.0)
    monkeypatch.setattr(time, "monotonic", lambda: 500.0)


def test_status_shows_every_field(clock: None) -> None:
    assert report.status(snapshot()) == {
        "default_policy": "all",
        "policies": {"all": "balance", "spare": "failover"},
        "runtime": {
            "default_policy": None, "strategy": None, "weights": {}, "drained": ["isp3"],
            "disabled": [], "drained_backends": ["dns/10.0.0.2:5353"],
        },
        "persisted_mode": ["spare"],
        "pools": {"all": {"isp1": ["192.168.1.10"]}},
        "links": [
            {
                "name": "isp1", "interface": "wan1", "state": "up", "since": 1e9 + 100.0,
                "reason": "2 good rounds", "latency_ms": 12.35, "loss_pct": 33.3,
                "weight": 3,  # as configured: the availability does not change it
                "drained": False, "taking_new": True, "tunnel": None, "auto_weight": None,
                "rx_kbit_s": 1000.0, "tx_kbit_s": 20.0, "rx_pps": 90.0, "tx_pps": 10.0,
                "rx_bytes": 123, "tx_bytes": 45, "peak_rx_kbit_s": 800.0, "peak_tx_kbit_s": 30.0,
            },
            {
                "name": "isp2", "interface": "wan2", "state": "degraded", "since": 1e9 + 50.0,
                "reason": "latency 300 ms", "latency_ms": None, "loss_pct": None,
                "weight": 5,  # the degraded weight the availability gives it
                "drained": False, "taking_new": True,  # a reserve link takes new ones too
                "tunnel": None, "auto_weight": None,
                "passive": {"answered": 7, "unanswered": 2, "suspect_destinations": 0,
                            "alarms": 1, "last_alarm": None},
            },
            {
                "name": "isp3", "interface": "wan3", "state": "down", "since": 1e9 + 20.0,
                "reason": "2 rounds failed", "latency_ms": None, "loss_pct": None, "weight": 1,
                "drained": True, "taking_new": False, "tunnel": {"process": "running"},
                "auto_weight": None,
            },
        ],
        "rules": [
            {"index": 0, "name": "web", "via": "isp2", "connections": 0},
            {"index": 1, "name": None, "via": "main", "connections": 6},
        ],
        "services": {"dns": {
            "listen": ["198.51.100.1"], "ports": [53, 54], "protocol": "udp",
            "scheduler": "weighted", "rejected": 4,
            "backends": [
                {"backend": "10.0.0.1:53", "state": "up", "since": 1e9 + 10.0,
                 "reason": "answers", "latency_ms": 2.0, "weight": 2, "backup": False,
                 "drained": False, "taking_new": True, "connections": 0},
                {"backend": "10.0.0.2:5353", "state": "unknown", "since": None, "reason": "",
                 "latency_ms": None, "weight": 1, "backup": True, "drained": True,
                 "taking_new": False, "connections": 9},
                {"backend": "10.0.0.3:53", "state": "unknown", "since": None, "reason": "",
                 "latency_ms": None, "weight": 1, "backup": False, "drained": False,
                 "taking_new": False, "connections": 0},
            ],
        }},
    }  # fmt: skip


def test_the_metrics_view_is_status_with_the_counts(clock: None) -> None:
    snap = snapshot()
    view = report.published(snap, {"isp1": 8})
    assert view == report.Published(report.status(snap), {("isp3", "down"): 2}, {"isp1": 8}, 5,
                                    0.25)  # fmt: skip


def test_a_service_before_any_count_refused_none_and_takes_nothing_new(clock: None) -> None:
    snap = replace(snapshot(), live_backends={}, rejected={})
    shown: dict[str, Any] = report.services_status(snap, 0.0)
    assert shown["dns"]["rejected"] == 0
    assert [row["taking_new"] for row in shown["dns"]["backends"]] == [False] * 3


def test_counters_are_read_by_what_they_count() -> None:
    listing: list[dict[str, Any]] = [
        {"metainfo": {"json_schema_version": 1}},
        {"counter": {"name": "new_isp1", "packets": "5"}},
        {"counter": {"name": "svc_dns_rejected", "packets": 2}},
        {"counter": {"name": "svc_dns_other", "packets": 3}},
        {"counter": {"name": "be_dns_1", "packets": 9}},
        {"counter": {"name": "rule_12", "packets": 7}},
        {"counter": {"name": "rule_x", "packets": 1}},
        {"counter": {"name": "other", "packets": 4}},
        {"counter": {}},
        {"table": {"name": "multiwan"}},
    ]
    assert report.counted(listing) == report.Counted(
        {"isp1": 5}, {"dns": 2}, {"be_dns_1": 9}, {12: 7}
    )
    assert report.counted(None) == report.Counted({}, {}, {}, {})


def test_connections_and_their_share_come_from_the_links_marks() -> None:
    config = load_config_text(CONFIG, "m.toml")
    facts = {
        f"wan{i}": InterfaceFacts(True, FamilyFacts(f"192.0.{i}.1", f"192.0.{i}.2", ()))
        for i in (1, 2)
    }
    links = {link.name: link for link in resolve_links(config, facts)}
    rows: dict[str, Any] = {"links": [{"name": "isp1"}, {"name": "isp2"}, {"name": "gone"}]}
    marks = {links["isp1"].mark: 1, links["isp2"].mark: 2, 0x7700: 50}
    shown = report.with_connections(rows, links, marks)
    assert shown["links"] == [
        {"name": "isp1", "connections": 1, "share_pct": 33.3},
        {"name": "isp2", "connections": 2, "share_pct": 66.7},
        {"name": "gone", "connections": 0, "share_pct": 0.0},
    ]
    none = report.with_connections({"links": [{"name": "isp1"}]}, links, {})
    assert none["links"] == [{"name": "isp1", "connections": 0, "share_pct": 0.0}]
