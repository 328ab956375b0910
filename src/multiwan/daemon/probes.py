"""Probe loops: a round probes every target of one subject (a link, or a service backend)
concurrently, its result goes to the engine's queue, and the next round starts after the
subject's current interval (faster while failing or recovering). One slow target never
delays another subject."""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

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


async def _pause(seconds: float, wake: asyncio.Event | None) -> bool:
    """Sleep `seconds`, or less when `wake` is set (a passive alarm); whether it was."""
    if wake is None:
        await asyncio.sleep(seconds)
        return False
    try:
        async with asyncio.timeout(seconds):
            await wake.wait()
    except TimeoutError:
        return False
    wake.clear()
    return True


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
    interface: str | None = None,
    wake: asyncio.Event | None = None,
) -> None:
    """Probe forever. With `binding`, probes leave by that link (none while it has no
    route); without, they are plain (service backends). `interface` enables the traffic
    signal when the check asks for it; setting `wake` starts the next round at once."""
    prober: LinkProber | None = None if binding else LinkProber(None)
    watch = interface if check.traffic_signal else None
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
            counters = _packets(watch) if watch else None
            while (remaining := deadline - time.monotonic()) > 0:
                if watch is None:
                    await _pause(remaining, wake)
                    break
                # Traffic signal: look at the counters every fast interval and probe at
                # once when the link sent but received nothing in between.
                woken = await _pause(min(remaining, check.probe_interval_fast), wake)
                previous, counters = counters, _packets(watch)
                if woken or _suspect(previous, counters):
                    break
    finally:
        if prober is not None:
            prober.close()
