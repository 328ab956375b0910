"""Probe loops: a round probes every target of one subject (a link, or a service backend)
concurrently, its result goes to the engine's queue, and the next round starts after the
subject's current interval (faster while failing or recovering). One slow target never
delays another subject."""

import asyncio
import time
from collections.abc import Callable

from multiwan.config.health import HealthCheck
from multiwan.core.linkstate import LinkHealth, ProbeRound, TargetResult, next_interval
from multiwan.daemon.engine import Engine
from multiwan.probing.binding import LinkBinding
from multiwan.probing.run import LinkProber, describe


def link_binding(engine: Engine, name: str) -> LinkBinding | None:
    link = engine.links.get(name)
    if link is None or not link.routable:
        return None
    return LinkBinding(
        link.interface,
        link.mark,
        link.v4.source if link.v4 else None,
        link.v6.source if link.v6 else None,
        link.ifindex,
        name,
    )


async def _pause(seconds: float, wake: asyncio.Event | None) -> None:
    """Sleep `seconds`, or less when `wake` is set (a passive alarm, the traffic signal)."""
    if wake is None:
        await asyncio.sleep(seconds)
        return
    try:
        async with asyncio.timeout(seconds):
            await wake.wait()
    except TimeoutError:
        return
    wake.clear()


async def _round(
    check: HealthCheck, names: list[str], prober: LinkProber | None
) -> tuple[TargetResult, ...]:
    if prober is None:
        return tuple(TargetResult(name, False, None, "link has no route") for name in names)
    answers = await prober.probe_round(check.targets, check.timeout)
    return tuple(
        TargetResult(name, a.ok, a.rtt, a.error) for name, a in zip(names, answers, strict=True)
    )


async def probe_loop(
    check: HealthCheck,
    report: Callable[[ProbeRound], None],
    health: Callable[[], LinkHealth | None],
    binding: Callable[[], LinkBinding | None] | None = None,
    wake: asyncio.Event | None = None,
) -> None:
    """Probe forever. With `binding`, probes leave by that link (none while it has no
    route); without, they are plain (service backends). Setting `wake` (a passive alarm,
    the traffic signal) starts the next round at once."""
    prober: LinkProber | None = None if binding else LinkProber(None)
    names = [describe(t) for t in check.targets]
    try:
        while True:
            started = time.monotonic()
            if binding is not None:
                bound = binding()
                if prober is None or prober.binding != bound:
                    if prober is not None:
                        prober.close()
                    prober = LinkProber(bound) if bound is not None else None
            report(ProbeRound(time.monotonic(), await _round(check, names, prober)))
            now = health()
            deadline = started + (next_interval(now, check) if now else check.interval)
            if (remaining := deadline - time.monotonic()) > 0:
                await _pause(remaining, wake)
    finally:
        if prober is not None:
            prober.close()
