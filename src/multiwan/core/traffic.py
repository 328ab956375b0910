"""What a link's traffic rates say, sampled once a second from its interface counters:
whether it sends but hardly receives (health's traffic_signal: packets out, none in, in one
second; traffic_floor: below a rate for a while; either makes a suspect link, probed at
once), and the capacity it has shown (the peak receive and transmit rates over a window).

Pure: rates and time are arguments (daemon/rates.py samples them, the engine acts).
"""

from dataclasses import dataclass, replace

from multiwan.config.health import HealthCheck

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


@dataclass(frozen=True)
class Sample:
    """One second of a link's counters, as rates."""

    at: float
    rx_kbit: float
    tx_kbit: float
    rx_pps: float = 0.0
    tx_pps: float = 0.0


def sample(
    traffic: Traffic, rates: Sample, check: HealthCheck | None
) -> tuple[Traffic, str | None]:
    """Fold in one rate sample; the reason when the link is suspect: with traffic_signal,
    it sent packets but received none; with a traffic_floor_kbit, it has sent at least the
    floor while receiving less for traffic_floor_seconds (then the count starts over: one
    alarm per span)."""
    at, rx_kbit, tx_kbit = rates.at, rates.rx_kbit, rates.tx_kbit
    kept = tuple(s for s in traffic.samples if s[0] > at - CAPACITY_WINDOW)
    traffic = replace(traffic, samples=(*kept, (at, rx_kbit, tx_kbit)))
    if check is not None and check.traffic_signal and rates.tx_pps > 0 and rates.rx_pps == 0:
        return traffic, f"traffic signal: sent {rates.tx_pps:.0f} packets/s, received none"
    floor_kbit, seconds = (
        (check.traffic_floor_kbit, check.traffic_floor_seconds) if check else (0, 1)
    )
    if floor_kbit <= 0 or tx_kbit < floor_kbit or rx_kbit >= floor_kbit:
        return replace(traffic, quiet_since=None), None
    since = at if traffic.quiet_since is None else traffic.quiet_since
    # Samples come once a second: the first quiet one stands for the second before it.
    if at - since + 1 < seconds:
        return replace(traffic, quiet_since=since), None
    reason = (
        f"traffic floor: received {rx_kbit:.0f} kbit/s < {floor_kbit:g} while sending "
        f"{tx_kbit:.0f} kbit/s "
        f"for {seconds:g} s"
    )
    return replace(traffic, quiet_since=None), reason
