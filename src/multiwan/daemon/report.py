"""What the daemon shows: `status` for the control socket and the view metrics read.

Built from the engine's state as plain, fresh values, so readers in other threads (the
metrics server) never see the engine's own mutable dicts.
"""

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from multiwan.core.links import ResolvedLink
    from multiwan.daemon.engine import Engine


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


def link_views(engine: "Engine") -> list[LinkView]:
    return [
        LinkView(name, engine.config.links[name].interface, h.state, h.since, h.reason,
                 h.loss, h.latency)
        for name, h in engine.health.items()
    ]  # fmt: skip


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def status(engine: "Engine") -> dict[str, object]:
    """Links with health, weight and rates; services; the mode and runtime changes."""
    offset = time.time() - time.monotonic()
    available = engine.availability()
    links = []
    for view in link_views(engine):
        rates = engine.rates.get(view.name)
        links.append({
            "name": view.name,
            "interface": view.interface,
            "state": view.state,
            "since": view.since + offset,
            "reason": view.reason,
            "latency_ms": _ms(view.latency),
            "loss_pct": None if view.loss is None else round(view.loss * 100, 1),
            "weight": available.weights.get(view.name, engine.config.links[view.name].weight),
            "drained": view.name in engine.runtime.drained,
            "taking_new": view.name in available.live | available.reserve,
            **(rates.as_dict() if rates else {}),
        })  # fmt: skip
    return {
        "default_policy": engine.config.default_policy,
        "policies": {n: p.strategy for n, p in engine.config.policies.items()},
        "runtime": engine.runtime.describe(),
        "links": links,
        "services": services_status(engine, offset),
    }


def services_status(engine: "Engine", offset: float) -> dict[str, object]:
    live = engine.backends_live()
    services: dict[str, object] = {}
    for name, service in engine.config.services.items():
        rows = []
        for backend in service.backends:
            key = backend.key(service.ports[0])
            health = engine.backends.get((name, key))
            rows.append({
                "backend": key,
                "state": health.state if health else "unknown",
                "since": (health.since + offset) if health else None,
                "reason": health.reason if health else "",
                "latency_ms": _ms(health.latency) if health else None,
                "weight": backend.weight,
                "backup": backend.backup,
                "drained": f"{name}/{key}" in engine.runtime.drained_backends,
                "taking_new": key in live.get(name, set()),
            })  # fmt: skip
        services[name] = {
            "listen": service.listen,
            "ports": service.ports,
            "protocol": service.protocol,
            "scheduler": service.scheduler,
            "rejected": engine.rejected.get(name, 0),
            "backends": rows,
        }
    return services


def published(engine: "Engine", counters: list[dict[str, Any]] | None) -> Published:
    """The metrics view; `counters` is the nft counter listing (new connections per link,
    connections rejected per service, which also feed `status`)."""
    new = {}
    for item in counters or []:
        counter = item.get("counter")
        if not counter:
            continue
        name = counter["name"]
        if name.startswith("new_"):
            new[name.removeprefix("new_")] = int(counter["packets"])
        elif name.startswith("svc_") and name.endswith("_rejected"):
            engine.rejected[name[4 : -len("_rejected")]] = int(counter["packets"])
    return Published(
        status(engine), dict(engine.transitions), new, engine.apply_count, engine.apply_seconds
    )


def with_connections(
    status: dict[str, Any], links: "Mapping[str, ResolvedLink]", by_mark: dict[int, int]
) -> dict[str, Any]:
    """Add each link's tracked connections and its share of all of them (conntrack marks)."""
    total = sum(by_mark.get(link.mark, 0) for link in links.values())
    for row in status["links"]:
        link = links.get(row["name"])
        count = by_mark.get(link.mark, 0) if link else 0
        row["connections"] = count
        row["share_pct"] = round(100 * count / total, 1) if total else 0.0
    return status
