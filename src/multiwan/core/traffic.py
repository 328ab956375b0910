"""What a link's traffic rates say, sampled once a second from its interface counters:
whether it sends but hardly receives (the traffic floor: a suspect link, probed at once),
and the capacity it has shown (the peak receive and transmit rates over a window).

Pure: rates and time are arguments (daemon/rates.py samples them, the engine acts).
"""

from dataclasses import dataclass, replace

#: The window over which a link's peak rates are its measured capacity.
CAPACITY_WINDOW = 600.0


@dataclass(frozen=True)
class Traffic:
    """Per link: since when it sends at the floor but receives below it, and its recent
    rates (at, rx_kbit, tx_kbit) for the capacity it has shown."""

    quiet_since: float | None = None
    samples: tuple[tuple[float, float, float], ...] = ()

    @property
    def peak_rx_kbit(self) -> float | None:
        return max((rx for _, rx, _ in self.samples), default=None)

    @property
    def peak_tx_kbit(self) -> float | None:
        return max((tx for _, _, tx in self.samples), default=None)

    def as_dict(self) -> dict[str, float | None]:
        def kbit(value: float | None) -> float | None:
            return None if value is None else round(value, 1)

        return {
            "peak_rx_kbit_s": kbit(self.peak_rx_kbit),
            "peak_tx_kbit_s": kbit(self.peak_tx_kbit),
        }


def sample(
    traffic: Traffic, at: float, rx_kbit: float, tx_kbit: float, floor_kbit: float, seconds: float
) -> tuple[Traffic, str | None]:
    """Fold in one rate sample; the reason when the link has sent at least `floor_kbit`
    while receiving less for `seconds` (then the count starts over: one alarm per span).
    A floor of 0 is off."""
    kept = tuple(s for s in traffic.samples if s[0] > at - CAPACITY_WINDOW)
    traffic = replace(traffic, samples=(*kept, (at, rx_kbit, tx_kbit)))
    if floor_kbit <= 0 or tx_kbit < floor_kbit or rx_kbit >= floor_kbit:
        return replace(traffic, quiet_since=None), None
    since = at if traffic.quiet_since is None else traffic.quiet_since
    # Samples come once a second: the first quiet one stands for the second before it.
    if at - since + 1 < seconds:
        return replace(traffic, quiet_since=since), None
    reason = (
        f"received {rx_kbit:.0f} kbit/s < {floor_kbit:g} while sending {tx_kbit:.0f} kbit/s "
        f"for {seconds:g} s"
    )
    return replace(traffic, quiet_since=None), reason
