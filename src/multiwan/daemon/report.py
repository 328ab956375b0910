"""What the daemon shows: `status` for the control socket and the view metrics read.

Everything here reads one frozen `Snapshot` the engine takes of itself, never the engine:
readers in other threads (the metrics server) and the control socket see a consistent copy.
"""

import time
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from multiwan.config.schema import Config
from multiwan.core.links import ResolvedLink
from multiwan.core.linkstate import LinkHealth
from multiwan.core.passive import Passive
from multiwan.core.services import backend_counter
from multiwan.core.strategy import Availability
from multiwan.core.traffic import Traffic
from multiwan.daemon.rates import Rates
from multiwan.daemon.runtime import Runtime


@dataclass(frozen=True)
class Snapshot:
    """The engine's state at one moment, as values."""

    config: Config
    health: Mapping[str, LinkHealth]
    backends: Mapping[tuple[str, str], LinkHealth]
    runtime: Runtime
    persisted: tuple[str, ...]  # the modes `mode --persist` saved
    pools: Mapping[str, Mapping[str, list[str]]]  # least-loaded policy -> link -> clients
    rates: Mapping[str, Rates]
    rejected: Mapping[str, int]
    available: Availability
    live_backends: Mapping[str, Set[str]]
    transitions: Mapping[tuple[str, str], int]
    apply_count: int
    apply_seconds: float
    #: New connections sent to each backend, by its counter (core/services.backend_counter).
    backend_connections: Mapping[str, int] = field(default_factory=dict)
    #: New connections each rule sent, by its index in the config.
    rule_hits: Mapping[int, int] = field(default_factory=dict)
    #: What the users' connections say, per link watched (health `passive`).
    passive: Mapping[str, Passive] = field(default_factory=dict)
    #: Capacity shown (peak rates over core.traffic.CAPACITY_WINDOW), per link sampled.
    traffic: Mapping[str, Traffic] = field(default_factory=dict)
    #: Tunnel links' processes (daemon/supervise.py): kind, base, state, pid, restarts.
    tunnels: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    #: `weight = "auto"` links (daemon/autoweights.py): weight, reason, capacity, changes.
    auto_weights: Mapping[str, Mapping[str, object]] = field(default_factory=dict)


@dataclass(frozen=True)
class LinkView:
    """One link as status readers see it."""

    name: str
    interface: str
    state: str
    since: float
    reason: str
    loss: float | None
    latency: float | None


@dataclass(frozen=True)
class Published:
    """A consistent copy of what metrics report, replaced as a whole."""

    status: dict[str, object]
    transitions: dict[tuple[str, str], int]
    new_connections: dict[str, int]
    apply_count: int
    apply_seconds: float


def link_views(snap: Snapshot) -> list[LinkView]:
    return [
        LinkView(name, snap.config.links[name].interface, h.state, h.since, h.reason,
                 h.loss, h.latency)
        for name, h in snap.health.items()
    ]  # fmt: skip


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def status(snap: Snapshot) -> dict[str, object]:
    """Links with health, weight and rates; services; the mode and runtime changes."""
    offset = time.time() - time.monotonic()
    available = snap.available
    links = []
    for view in link_views(snap):
        rates = snap.rates.get(view.name)
        links.append({
            "name": view.name,
            "interface": view.interface,
            "state": view.state,
            "since": view.since + offset,
            "reason": view.reason,
            "latency_ms": _ms(view.latency),
            "loss_pct": None if view.loss is None else round(view.loss * 100, 1),
            "weight": available.weights.get(
                view.name,
                available.measured.get(view.name, snap.config.links[view.name].fixed_weight),
            ),
            "drained": view.name in snap.runtime.drained,
            "taking_new": view.name in available.live | available.reserve,
            "tunnel": snap.tunnels.get(view.name),
            "auto_weight": snap.auto_weights.get(view.name),
            **(rates.as_dict() if rates else {}),
            **(snap.traffic[view.name].as_dict() if view.name in snap.traffic else {}),
            **({"passive": snap.passive[view.name].as_dict()} if view.name in snap.passive else {}),
        })  # fmt: skip
    return {
        "default_policy": snap.config.default_policy,
        "policies": {n: p.strategy for n, p in snap.config.policies.items()},
        "runtime": snap.runtime.describe(),
        "persisted_mode": list(snap.persisted),
        "pools": {policy: dict(links) for policy, links in snap.pools.items()},
        "links": links,
        "rules": [
            {
                "index": index,
                "name": rule.name,
                "via": rule.via,
                "connections": snap.rule_hits.get(index, 0),
            }
            for index, rule in enumerate(snap.config.rules)
        ],
        "services": services_status(snap, offset),
    }


def services_status(snap: Snapshot, offset: float) -> dict[str, object]:
    live = snap.live_backends
    services: dict[str, object] = {}
    for name, service in snap.config.services.items():
        rows = []
        for index, backend in enumerate(service.backends):
            key = backend.key(service.ports[0])
            health = snap.backends.get((name, key))
            rows.append({
                "backend": key,
                "state": health.state if health else "unknown",
                "since": (health.since + offset) if health else None,
                "reason": health.reason if health else "",
                "latency_ms": _ms(health.latency) if health else None,
                "weight": backend.weight,
                "backup": backend.backup,
                "drained": f"{name}/{key}" in snap.runtime.drained_backends,
                "taking_new": key in live.get(name, set()),
                "connections": snap.backend_connections.get(backend_counter(name, index), 0),
            })  # fmt: skip
        services[name] = {
            "listen": service.listen,
            "ports": service.ports,
            "protocol": service.protocol,
            "scheduler": service.scheduler,
            "rejected": snap.rejected.get(name, 0),
            "backends": rows,
        }
    return services


@dataclass(frozen=True)
class Counted:
    """multiwan's nft counters, by what they count."""

    new: dict[str, int]  # new connections per link
    rejected: dict[str, int]  # connections refused per service (no live backend)
    backends: dict[str, int]  # new connections per backend, by counter name
    rules: dict[int, int]  # new connections each rule sent, by its index


def counted(counters: list[dict[str, Any]] | None) -> Counted:
    """Read the nft counter listing (None: it failed, so nothing is known)."""
    found = Counted({}, {}, {}, {})
    for item in counters or []:
        counter = item.get("counter")
        if not counter:
            continue
        name, packets = counter["name"], int(counter["packets"])
        if name.startswith("new_"):
            found.new[name.removeprefix("new_")] = packets
        elif name.startswith("svc_") and name.endswith("_rejected"):
            found.rejected[name[4 : -len("_rejected")]] = packets
        elif name.startswith("be_"):
            found.backends[name] = packets
        elif name.startswith("rule_") and name[5:].isdigit():
            found.rules[int(name[5:])] = packets
    return found


def published(snap: Snapshot, new_connections: dict[str, int]) -> Published:
    """The metrics view."""
    return Published(
        status(snap), dict(snap.transitions), new_connections, snap.apply_count,
        snap.apply_seconds,
    )  # fmt: skip


def with_connections(
    status: dict[str, Any], links: Mapping[str, ResolvedLink], by_mark: Mapping[int, int]
) -> dict[str, Any]:
    """Add each link's tracked connections and its share of all of them (conntrack marks)."""
    total = sum(by_mark.get(link.mark, 0) for link in links.values())
    for row in status["links"]:
        link = links.get(row["name"])
        count = by_mark.get(link.mark, 0) if link else 0
        row["connections"] = count
        row["share_pct"] = round(100 * count / total, 1) if total else 0.0
    return status
