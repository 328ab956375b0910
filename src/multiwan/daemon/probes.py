"""One probe loop per link: a round probes every target concurrently, its result goes to
the engine's queue, and the next round starts after the link's current interval (faster
while failing or recovering). One slow target never delays another link."""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from multiwan.core.linkstate import ProbeRound, TargetResult, next_interval
from multiwan.daemon.engine import Engine
from multiwan.daemon.events import DaemonEvent, ProbeDone
from multiwan.probing.binding import LinkBinding
from multiwan.probing.run import LinkProber, describe


def _binding(engine: Engine, name: str) -> LinkBinding | None:
    link = engine.links.get(name)
    if link is None or not link.routable:
        return None
    return LinkBinding(
        link.interface,
        link.mark,
        link.v4.source if link.v4 else None,
        link.v6.source if link.v6 else None,
        link.ifindex,
    )


def _packets(interface: str) -> tuple[int, int] | None:
    """(received, sent) packets of an interface (sysfs of this namespace), None if gone."""
    base = Path("/sys/class/net") / interface / "statistics"
    try:
        return int((base / "rx_packets").read_text()), int((base / "tx_packets").read_text())
    except (OSError, ValueError):
        return None


def _suspect(before: tuple[int, int] | None, now: tuple[int, int] | None) -> bool:
    """The interface sent packets but received none in between: its path may be dead."""
    if before is None or now is None:
        return False
    return now[1] > before[1] and now[0] == before[0]


async def probe_loop(
    name: str, engine: Engine, post: Callable[[DaemonEvent], None], generation: int
) -> None:
    check = engine.config.health_of(name)
    if check is None:
        return
    prober: LinkProber | None = None
    interface = engine.config.links[name].interface
    try:
        while True:
            started = time.monotonic()
            binding = _binding(engine, name)
            if prober is None or prober.binding != binding:
                if prober is not None:
                    prober.close()
                prober = LinkProber(binding) if binding is not None else None
            if prober is None:
                results = tuple(
                    TargetResult(describe(t), False, None, "link has no route")
                    for t in check.targets
                )
            else:
                answers = await asyncio.gather(
                    *(prober.probe(target, check.timeout) for target in check.targets)
                )
                results = tuple(
                    TargetResult(describe(t), a.ok, a.rtt, a.error)
                    for t, a in zip(check.targets, answers, strict=True)
                )
            post(ProbeDone(name, ProbeRound(time.monotonic(), results), generation))
            health = engine.health.get(name)
            deadline = started + (next_interval(health, check) if health else check.interval)
            counters = _packets(interface) if check.traffic_signal else None
            while (remaining := deadline - time.monotonic()) > 0:
                if not check.traffic_signal:
                    await asyncio.sleep(remaining)
                    break
                # Traffic signal: look at the counters every fast interval and probe at
                # once when the link sent but received nothing in between.
                await asyncio.sleep(min(remaining, check.probe_interval_fast))
                previous, counters = counters, _packets(interface)
                if _suspect(previous, counters):
                    break
    finally:
        if prober is not None:
            prober.close()
