"""`weight = "auto"`: a link's weight from the capacity it has shown and its quality.

Capacity is evidence that the link can carry at least so much: the peak rate it carried
over the window, or the last result of the user's measurement command, whichever is higher.
Quality scales it down: the probes' loss (10 % loss: 10 % less) and, with `latency_ms`, a mean
RTT above that reference (times latency_ms / RTT). The weight is the result in Mbit/s,
1-1000, so auto links compare by what they carry.

The weight moves only when the measured one differs by more than `hysteresis_pct` and
`min_interval` has passed since it last moved, so steady traffic never rewrites a chain.
A higher peak is proof and counts at once. A lower one counts only when the link ran close
to it (within PLATEAU) for at least half the window, as a full line does, or when the
command measured it: traffic that merely ebbed, or a last partial second, is demand, not
capacity (and a link given fewer connections would otherwise show less and be given fewer
still). A peak below `idle_kbit` is no evidence at all: an idle link is not a slow one.

Pure: rate samples, health figures and time are arguments (the engine feeds them).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from multiwan.config.autoweight import WEIGHT_MAX, AutoWeight

#: A rate in a measurement command's output: a number with a unit of bits (not bytes: 'MB/s').
RATE = re.compile(r"(\d+(?:\.\d+)?)\s*([kKmMgG])(?:bits?/s|bps|bit)\b")
#: Or the whole output one bare number: kbit/s.
BARE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*")
UNIT_KBIT = {"k": 1.0, "m": 1000.0, "g": 1_000_000.0}
#: A lower capacity counts when at least half the window's samples came this close to it.
PLATEAU = 0.8


@dataclass(frozen=True)
class Weighing:
    """An auto link's weight in force, why, and what its measurement command last said."""

    weight: int
    reason: str
    changed_at: float | None = None  # None: the initial weight, free to move at once
    changes: int = 0
    capacity_kbit: float | None = None  # the latest estimate (before quality)
    measured_kbit: float | None = None  # the measurement command's last result
    command_ended: float | None = None  # when the last measurement command ended
    command_running: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "weight": self.weight,
            "reason": self.reason,
            "changes": self.changes,
            "capacity_kbit_s": None if self.capacity_kbit is None else round(self.capacity_kbit),
            "measured_kbit_s": None if self.measured_kbit is None else round(self.measured_kbit),
        }


def initial(settings: AutoWeight) -> Weighing:
    return Weighing(settings.initial, "initial weight: nothing measured yet")


def capacity(
    settings: AutoWeight,
    samples: Sequence[tuple[float, float, float]],
    measured_kbit: float | None,
    now: float,
) -> float | None:
    """The capacity the link has shown (kbit/s): the peak of `direction` over the window
    (samples are (at, rx_kbit, tx_kbit)), or the command's last result if higher; None when
    neither reaches idle_kbit."""
    peak = max(_rates(settings, samples, now), default=0.0)
    best = max(peak, measured_kbit or 0.0)
    return best if best >= settings.idle_kbit and best > 0 else None


def _rates(
    settings: AutoWeight, samples: Sequence[tuple[float, float, float]], now: float
) -> list[float]:
    """The window's rates of `direction`, one per sample (both: the higher of the two)."""
    index = {"rx": (1,), "tx": (2,), "both": (1, 2)}[settings.direction]
    return [max(s[i] for i in index) for s in samples if s[0] > now - settings.window]


def _full_at(
    settings: AutoWeight, samples: Sequence[tuple[float, float, float]], kbit: float, now: float
) -> bool:
    """The link ran within PLATEAU of `kbit` for at least half the window: it was full."""
    near = sum(1 for rate in _rates(settings, samples, now) if rate >= kbit * PLATEAU)
    return near * 2 >= settings.window


def target(
    settings: AutoWeight, capacity_kbit: float, loss: float | None, latency: float | None
) -> tuple[int, str]:
    """The weight the measurements call for, with the reason in words."""
    kbit = capacity_kbit * (1 - (loss or 0.0))
    reason = f"capacity {capacity_kbit / 1000:.1f} Mbit/s"
    if loss:
        reason += f", loss {loss * 100:.0f} %"
    reference = settings.latency_ms
    if reference is not None and latency is not None and latency * 1000 > reference:
        kbit *= reference / (latency * 1000)
        reason += f", RTT {latency * 1000:.0f} ms > {reference:g} ms"
    return max(1, min(WEIGHT_MAX, round(kbit / 1000))), reason


def weigh(
    current: Weighing,
    settings: AutoWeight,
    samples: Sequence[tuple[float, float, float]],
    loss: float | None,
    latency: float | None,
    now: float,
) -> tuple[Weighing, str | None]:
    """Fold in the latest samples; the change in words when the weight moved."""
    shown = capacity(settings, samples, current.measured_kbit, now)
    current = replace(current, capacity_kbit=shown)
    if shown is None:
        return current, None
    weight, reason = target(settings, shown, loss, latency)
    if weight == current.weight:
        return current, None
    if current.changed_at is not None and now - current.changed_at < settings.min_interval:
        return current, None
    if abs(weight - current.weight) * 100 <= settings.hysteresis_pct * current.weight:
        return current, None
    measured = current.measured_kbit is not None and current.measured_kbit >= shown
    if weight < current.weight and not measured and not _full_at(settings, samples, shown, now):
        return current, None
    change = f"weight {current.weight} -> {weight} ({reason})"
    moved = replace(current, weight=weight, reason=reason, changed_at=now,
                    changes=current.changes + 1)  # fmt: skip
    return moved, change


def command_due(current: Weighing, settings: AutoWeight, now: float) -> bool:
    """Time to run the measurement command: none running, and never run yet or
    command_interval since the last one ended (a slow command never runs back to back)."""
    if settings.command is None or current.command_running:
        return False
    ended = current.command_ended
    return ended is None or now - ended >= settings.command_interval


def parse_rate(output: str) -> float:
    """kbit/s from a measurement command's output: its first rate with a unit ('Ping 12 ms,
    download 38.5 Mbit/s', '900 kbps', '1 Gbit/s'), or the output as one bare number
    (kbit/s)."""
    if (found := RATE.search(output)) is not None:
        return float(found.group(1)) * UNIT_KBIT[found.group(2).lower()]
    if (bare := BARE.fullmatch(output)) is not None:
        return float(bare.group(1))
    raise ValueError(f"no rate in its output {output[:80]!r} (expected e.g. '38.5 Mbit/s')")
