"""Per-link traffic rates (kbit/s and packets/s each way), sampled from the interface
counters, like the rate tables people keep next to their multi-WAN scripts."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

COUNTERS = ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets")


@dataclass(frozen=True)
class Rates:
    rx_kbit: float
    tx_kbit: float
    rx_pps: float
    tx_pps: float
    rx_bytes: int
    tx_bytes: int

    def as_dict(self) -> dict[str, float]:
        return {
            "rx_kbit_s": round(self.rx_kbit, 1),
            "tx_kbit_s": round(self.tx_kbit, 1),
            "rx_pps": round(self.rx_pps, 1),
            "tx_pps": round(self.tx_pps, 1),
            "rx_bytes": self.rx_bytes,
            "tx_bytes": self.tx_bytes,
        }


def read_counters(interface: str) -> dict[str, int] | None:
    base = Path("/sys/class/net") / interface / "statistics"
    try:
        return {name: int((base / name).read_text()) for name in COUNTERS}
    except (OSError, ValueError):
        return None


async def sample_rates(
    interfaces: "dict[str, str]", report: Callable[[dict[str, Rates]], None], every: float = 1.0
) -> None:
    """Forever: every `every` seconds, report each link's rates from the counters of
    `interfaces[link]` (links whose interface is gone are left out)."""
    previous: dict[str, tuple[float, dict[str, int]]] = {}
    into: dict[str, Rates] = {}
    while True:
        now = time.monotonic()
        for link, interface in list(interfaces.items()):
            counters = read_counters(interface)
            if counters is None:
                into.pop(link, None)
                previous.pop(link, None)
                continue
            if link in previous:
                then, old = previous[link]
                span = max(now - then, 1e-6)
                per_s = {key: max(counters[key] - old[key], 0) / span for key in COUNTERS}
                into[link] = Rates(
                    per_s["rx_bytes"] * 8 / 1000, per_s["tx_bytes"] * 8 / 1000,
                    per_s["rx_packets"], per_s["tx_packets"],
                    counters["rx_bytes"], counters["tx_bytes"],
                )  # fmt: skip
            previous[link] = (now, counters)
        for link in set(into) - set(interfaces):
            del into[link]
        report(dict(into))
        await asyncio.sleep(every)
