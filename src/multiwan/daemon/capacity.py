"""Runs a `weight = "auto"` link's measurement command (health's command probes' runner):
the capacity it prints, or why there is none, as an event for the engine."""

from multiwan.core.autoweight import parse_rate
from multiwan.daemon.events import CapacityMeasured
from multiwan.probing.binding import LinkBinding
from multiwan.probing.command import ProgramFailed, run_program


async def measure_capacity(
    link: str, argv: tuple[str, ...], timeout: float, binding: LinkBinding | None
) -> CapacityMeasured:
    try:
        output = await run_program(list(argv), timeout, binding)
        return CapacityMeasured(link, parse_rate(output))
    except (ProgramFailed, ValueError) as exc:
        return CapacityMeasured(link, None, str(exc))
