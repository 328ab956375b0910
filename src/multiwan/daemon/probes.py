"""One probe loop per link: a round probes every target concurrently, its result goes to
the engine's queue, and the next round starts after the link's current interval (faster
while failing or recovering). One slow target never delays another link."""

import asyncio
import time
from collections.abc import Callable

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


async def probe_loop(
    name: str, engine: Engine, post: Callable[[DaemonEvent], None], generation: int
) -> None:
    check = engine.config.health_of(name)
    if check is None:
        return
    prober: LinkProber | None = None
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
            interval = next_interval(health, check) if health else check.interval
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        if prober is not None:
            prober.close()
