"""The measurement command of `weight = "auto"`: its printed rate, or why there is none."""

import asyncio

from multiwan.daemon.capacity import measure_capacity
from multiwan.daemon.events import CapacityMeasured
from multiwan.probing.binding import LinkBinding

BINDING = LinkBinding("wan1", 0x100, "100.64.1.2", None, 7, "isp1")


def measure(script: str, timeout: float = 5.0) -> CapacityMeasured:
    argv = ("/bin/sh", "-c", script)
    return asyncio.run(measure_capacity("isp1", argv, timeout, BINDING))


def test_the_printed_rate_with_the_link_in_its_environment() -> None:
    assert measure('echo "$LINK $INTERFACE $MARK $SOURCE: 38.5 Mbit/s"') == CapacityMeasured(
        "isp1", 38_500
    )


def test_a_failing_silent_or_slow_command_says_why() -> None:
    assert measure("exit 3") == CapacityMeasured("isp1", None, "sh exited 3")
    assert measure("echo unreachable") == CapacityMeasured(
        "isp1", None, "no rate in its output 'unreachable\\n' (expected e.g. '38.5 Mbit/s')"
    )
    assert measure("sleep 5", timeout=0.2) == CapacityMeasured("isp1", None, "timeout after 0.2s")


def test_a_missing_program_is_named() -> None:
    measured = asyncio.run(measure_capacity("isp1", ("/nonexistent/measure",), 5.0, None))
    assert measured == CapacityMeasured(
        "isp1", None, "cannot run /nonexistent/measure: No such file or directory"
    )
