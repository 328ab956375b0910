"""Prometheus metrics on HTTP (localhost by default), served by prometheus_client's own
thread from the engine's last published view, so a scrape never touches the event loop."""

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from multiwan.core.linkstate import State
from multiwan.daemon.engine import Engine

STATES: tuple[State, ...] = ("up", "degraded", "down", "disabled", "absent")


class EngineCollector(Collector):
    """`errors`: the daemon's failures by what failed (a dict replaced, never mutated)."""

    def __init__(
        self, engine: Engine, errors: Callable[[], Mapping[str, int]] | None = None
    ) -> None:
        self.engine = engine
        self.errors = errors

    def collect(self) -> Iterator[Any]:
        view = self.engine.published
        if view is None:
            return
        links: list[dict[str, Any]] = view.status["links"]  # type: ignore[assignment]
        state = GaugeMetricFamily("multiwan_link_state", "1 for the link's current state",
                                  labels=["link", "state"])  # fmt: skip
        latency = GaugeMetricFamily("multiwan_link_latency_seconds", "Probe RTT (window mean)",
                                    labels=["link"])  # fmt: skip
        loss = GaugeMetricFamily("multiwan_link_loss_ratio", "Probe loss over the window",
                                 labels=["link"])  # fmt: skip
        weight = GaugeMetricFamily("multiwan_link_weight", "Effective weight", labels=["link"])
        rx = CounterMetricFamily("multiwan_link_receive_bytes", "Bytes received", labels=["link"])
        tx = CounterMetricFamily("multiwan_link_transmit_bytes", "Bytes sent", labels=["link"])
        for link in links:
            name = link["name"]
            for candidate in STATES:
                state.add_metric([name, candidate], float(link["state"] == candidate))
            if link["latency_ms"] is not None:
                latency.add_metric([name], link["latency_ms"] / 1000)
            if link["loss_pct"] is not None:
                loss.add_metric([name], link["loss_pct"] / 100)
            weight.add_metric([name], link["weight"])
            if "rx_bytes" in link:
                rx.add_metric([name], link["rx_bytes"])
                tx.add_metric([name], link["tx_bytes"])
        changes = CounterMetricFamily("multiwan_link_transitions", "State changes, by new state",
                                      labels=["link", "state"])  # fmt: skip
        for (name, new_state), count in sorted(view.transitions.items()):
            changes.add_metric([name, new_state], count)
        connections = CounterMetricFamily(
            "multiwan_link_connections", "New connections given to the link", labels=["link"]
        )
        for name, count in sorted(view.new_connections.items()):
            connections.add_metric([name], count)
        applies = SummaryMetricFamily(
            "multiwan_policy_update_seconds", "Time to apply a state change to the kernel"
        )
        applies.add_metric([], view.apply_count, view.apply_seconds)
        failures = CounterMetricFamily(
            "multiwan_daemon_errors", "Failures logged and survived, by what failed",
            labels=["what"],
        )  # fmt: skip
        for what, count in sorted((self.errors() if self.errors else {}).items()):
            failures.add_metric([what], count)
        rules = CounterMetricFamily(
            "multiwan_rule_connections", "New connections a rule sent (first match)",
            labels=["rule", "via"],
        )  # fmt: skip
        for row in view.status.get("rules") or []:  # type: ignore[attr-defined]
            label = row["name"] or f"rules[{row['index']}]"
            rules.add_metric([label, row["via"]], row["connections"])
        yield from (state, latency, loss, weight, rx, tx, changes, connections, applies, failures,
                    rules)  # fmt: skip
        yield from service_metrics(view.status.get("services") or {})  # type: ignore[arg-type]
        yield from passive_metrics(links)
        yield from capacity_metrics(links)
        yield from tunnel_metrics(links)


def passive_metrics(links: list[dict[str, Any]]) -> Iterator[Any]:
    """Per watched link (health `passive`): the users' handshakes by outcome, the distinct
    destinations unanswered since the link last answered, and the alarms raised."""
    handshakes = CounterMetricFamily(
        "multiwan_link_passive_handshakes", "Users' new TCP connections seen, by outcome",
        labels=["link", "outcome"],
    )  # fmt: skip
    suspect = GaugeMetricFamily(
        "multiwan_link_passive_suspect_destinations",
        "Distinct destinations unanswered since the link last answered", labels=["link"],
    )  # fmt: skip
    alarms = CounterMetricFamily(
        "multiwan_link_passive_alarms", "Passive alarms raised", labels=["link"]
    )
    for link in links:
        if (passive := link.get("passive")) is None:
            continue
        name = link["name"]
        handshakes.add_metric([name, "answered"], passive["answered"])
        handshakes.add_metric([name, "unanswered"], passive["unanswered"])
        suspect.add_metric([name], passive["suspect_destinations"])
        alarms.add_metric([name], passive["alarms"])
    yield from (handshakes, suspect, alarms)


def capacity_metrics(links: list[dict[str, Any]]) -> Iterator[Any]:
    """Per link: the capacity it has shown, its peak rates over the last ten minutes."""
    peaks = {
        "receive": GaugeMetricFamily(
            "multiwan_link_peak_receive_bits_per_second",
            "Peak receive rate over the last 10 minutes (capacity shown)", labels=["link"],
        ),
        "transmit": GaugeMetricFamily(
            "multiwan_link_peak_transmit_bits_per_second",
            "Peak transmit rate over the last 10 minutes (capacity shown)", labels=["link"],
        ),
    }  # fmt: skip
    estimate = GaugeMetricFamily(
        "multiwan_link_auto_capacity_bits_per_second",
        'Capacity a weight = "auto" link has shown over its window (its weight\'s basis)',
        labels=["link"],
    )
    changes = CounterMetricFamily(
        "multiwan_link_auto_weight_changes", 'Changes of a weight = "auto" link\'s weight',
        labels=["link"],
    )  # fmt: skip
    for link in links:
        for way, key in (("receive", "peak_rx_kbit_s"), ("transmit", "peak_tx_kbit_s")):
            if link.get(key) is not None:
                peaks[way].add_metric([link["name"]], link[key] * 1000)
        if (auto := link.get("auto_weight")) is not None:
            changes.add_metric([link["name"]], auto["changes"])
            if auto["capacity_kbit_s"] is not None:
                estimate.add_metric([link["name"]], auto["capacity_kbit_s"] * 1000)
    yield from (*peaks.values(), estimate, changes)


def tunnel_metrics(links: list[dict[str, Any]]) -> Iterator[Any]:
    """Per tunnel link: whether it runs (labelled with its kind, base link and what runs it:
    kernel, wireguard-go, openvpn; "none" before its first start) and its restarts after
    exits it did not ask for."""
    running = GaugeMetricFamily(
        "multiwan_tunnel_running", "1 while the tunnel runs (process up, or kernel device)",
        labels=["link", "kind", "over", "implementation"],
    )  # fmt: skip
    restarts = CounterMetricFamily(
        "multiwan_tunnel_restarts", "Restarts after the tunnel exited by itself",
        labels=["link", "kind", "over"],
    )  # fmt: skip
    for link in links:
        if (tunnel := link.get("tunnel")) is None:
            continue
        key = [link["name"], tunnel["kind"], tunnel["over"]]
        implementation = tunnel["implementation"] or "none"
        running.add_metric([*key, implementation], float(tunnel["process"] == "running"))
        restarts.add_metric(key, tunnel["restarts"])
    yield from (running, restarts)


#: A backend's states (the check's verdicts, and before its first check).
BACKEND_STATES = ("up", "degraded", "down", "unknown")


def service_metrics(services: Mapping[str, dict[str, Any]]) -> Iterator[Any]:
    """Per backend: state, check latency, new connections, whether it takes new ones; per
    service: connections rejected for want of a live backend."""
    labels = ["service", "backend"]
    state = GaugeMetricFamily(
        "multiwan_backend_state", "1 for the backend's current state", labels=[*labels, "state"]
    )
    latency = GaugeMetricFamily(
        "multiwan_backend_check_latency_seconds", "Latency of its checks", labels=labels
    )
    taking = GaugeMetricFamily(
        "multiwan_backend_taking_new", "1 while it gets new connections", labels=labels
    )
    connections = CounterMetricFamily(
        "multiwan_backend_connections", "New connections sent to the backend", labels=labels
    )
    rejected = CounterMetricFamily(
        "multiwan_service_rejected", "New connections refused: no backend", labels=["service"]
    )
    for name, service in sorted(services.items()):
        rejected.add_metric([name], service.get("rejected", 0))
        for row in service.get("backends", []):
            key = [name, row["backend"]]
            for candidate in dict.fromkeys([*BACKEND_STATES, row["state"]]):
                state.add_metric([*key, candidate], float(row["state"] == candidate))
            if row.get("latency_ms") is not None:
                latency.add_metric(key, row["latency_ms"] / 1000)
            taking.add_metric(key, float(bool(row.get("taking_new"))))
            connections.add_metric(key, row.get("connections", 0))
    yield from (state, latency, taking, connections, rejected)


def serve_metrics(
    listen: str, engine: Engine, errors: Callable[[], Mapping[str, int]] | None = None
) -> CollectorRegistry:
    """Start the HTTP endpoint in its own thread; `listen` is host:port."""
    host, _, port = listen.rpartition(":")
    registry = CollectorRegistry()
    registry.register(EngineCollector(engine, errors))
    start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=registry)
    return registry
