"""The link lifecycle: every rule that moves a link between states lives in this file.

A link's effective state is the first that applies of: `disabled` (operator), `absent`
(interface gone), `down` (no carrier), else what the probes say (`up`, `degraded`,
`down`). Probe verdicts have hysteresis: `fall` failed rounds in a row to go down, `rise`
good rounds to come back, and quality thresholds that are left only well below where they
were entered, so a lossy link settles once instead of flapping.

`step(health, event, check) -> (health, transition)` is pure: time is part of each event,
so tests of hysteresis are instant and exact.
"""

from dataclasses import dataclass, replace
from typing import Literal

from multiwan.config.health import HealthCheck

State = Literal["up", "degraded", "down", "disabled", "absent"]
Verdict = Literal["up", "degraded", "down"]

#: A degraded link becomes up again only below this fraction of the degraded thresholds.
RECOVERY_FRACTION = 0.5
#: Quality is judged only on windows at least this full (a few rounds say little).
MIN_ROUNDS_FOR_QUALITY = 5


@dataclass(frozen=True)
class TargetResult:
    target: str
    ok: bool
    rtt: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class ProbeRound:
    at: float
    results: tuple[TargetResult, ...]


@dataclass(frozen=True)
class InterfaceChange:
    """The interface appeared/changed (present) or was deleted (not present)."""

    at: float
    present: bool
    carrier: bool = True


@dataclass(frozen=True)
class OperatorChange:
    at: float
    disabled: bool


@dataclass(frozen=True)
class PassiveAlarm:
    """The users' new connections through the link go unanswered (core/passive.py): with
    `down` (passive_down) the link goes down at once, else it is suspect and probed fast."""

    at: float
    reason: str
    down: bool


Event = ProbeRound | InterfaceChange | OperatorChange | PassiveAlarm


@dataclass(frozen=True)
class RoundStats:
    answered: int
    asked: int
    rtt: float | None  # mean RTT of the answers (seconds)


@dataclass(frozen=True)
class Transition:
    previous: State
    state: State
    at: float
    reason: str


@dataclass(frozen=True)
class LinkHealth:
    """Everything the state machine knows about one link."""

    state: State
    since: float
    reason: str
    verdict: Verdict
    good: int = 0  # good rounds in a row
    bad: int = 0  # failed rounds in a row
    calm: int = 0  # rounds in a row with quality below the recovery thresholds
    present: bool = True
    carrier: bool = True
    disabled: bool = False
    window: tuple[RoundStats, ...] = ()
    suspect: bool = False  # a passive alarm that no good round has answered yet

    @property
    def loss(self) -> float | None:
        """Fraction of target answers lost over the window."""
        return _loss(self.window)

    @property
    def latency(self) -> float | None:
        """Mean RTT over the window's answered rounds (seconds)."""
        return _latency(self.window)


def _loss(window: tuple[RoundStats, ...]) -> float | None:
    asked = sum(r.asked for r in window)
    return None if asked == 0 else 1 - sum(r.answered for r in window) / asked


def _latency(window: tuple[RoundStats, ...]) -> float | None:
    rtts = [r.rtt for r in window if r.rtt is not None]
    return sum(rtts) / len(rtts) if rtts else None


def initial(
    check: HealthCheck | None,
    at: float,
    present: bool,
    carrier: bool,
    previous: State | None = None,
) -> LinkHealth:
    """A link at daemon start: optimistic (`up`) unless its check says `initial_state=down`
    or the previous run left it down or degraded (a restart must not revive a dead link)."""
    verdict: Verdict = "up"
    if check and (check.initial_state == "down" or previous == "down"):
        verdict = "down"
    elif check and previous == "degraded":
        verdict = "degraded"
    reason = "starting" if previous is None else f"resuming as {verdict}"
    reason = reason if check else "not probed"
    health = LinkHealth("up", at, reason, verdict, present=present, carrier=carrier)
    return replace(health, state=_effective(health))


def _effective(h: LinkHealth) -> State:
    if h.disabled:
        return "disabled"
    if not h.present:
        return "absent"
    if not h.carrier:
        return "down"
    return h.verdict


def _judges_quality(check: HealthCheck) -> bool:
    thresholds = (check.degraded_latency_ms, check.degraded_loss_pct, check.down_latency_ms,
                  check.down_loss_pct)  # fmt: skip
    return any(t is not None for t in thresholds)


def _quality(window: tuple[RoundStats, ...], check: HealthCheck) -> tuple[Verdict, str, bool]:
    """What loss and latency say: verdict, reason, and whether they are calm enough to leave
    `degraded` (well below the degraded thresholds)."""
    if not _judges_quality(check):
        return "up", "", True  # the common case, and the cheap one (probed every round)
    loss, latency = _loss(window), _latency(window)
    if len(window) < min(MIN_ROUNDS_FOR_QUALITY, check.window) or loss is None:
        return "up", "", True
    loss_pct = loss * 100
    latency_ms = None if latency is None else latency * 1000
    over = f"over the last {len(window)} rounds"
    if check.down_loss_pct is not None and loss_pct > check.down_loss_pct:
        return "down", f"loss {loss_pct:.0f}% > {check.down_loss_pct:g}% {over}", False
    if check.down_latency_ms and latency_ms and latency_ms > check.down_latency_ms:
        return "down", f"latency {latency_ms:.0f}ms > {check.down_latency_ms:g}ms {over}", False
    calm = True
    if check.degraded_loss_pct is not None:
        if loss_pct > check.degraded_loss_pct:
            return "degraded", f"loss {loss_pct:.0f}% > {check.degraded_loss_pct:g}% {over}", False
        calm = loss_pct <= check.degraded_loss_pct * RECOVERY_FRACTION
    if check.degraded_latency_ms and latency_ms:
        if latency_ms > check.degraded_latency_ms:
            reason = f"latency {latency_ms:.0f}ms > {check.degraded_latency_ms:g}ms {over}"
            return "degraded", reason, False
        calm = calm and latency_ms <= check.degraded_latency_ms * RECOVERY_FRACTION
    return "up", "", calm


def _failures(results: tuple[TargetResult, ...]) -> str:
    return ", ".join(f"{r.target} {r.error or 'failed'}" for r in results if not r.ok)


def _probe_round(h: LinkHealth, event: ProbeRound, check: HealthCheck) -> LinkHealth:
    answered = [r for r in event.results if r.ok]
    rtts = [r.rtt for r in answered if r.rtt is not None]
    stats = RoundStats(len(answered), len(event.results), sum(rtts) / len(rtts) if rtts else None)
    window = (*h.window, stats)[-check.window :]
    ok = len(answered) >= check.reliability
    bad = 0 if ok else h.bad + 1
    # A run of failed rounds is `fall`'s to judge: it counts as loss only once an answer
    # shows the link lossy rather than dead, so a dead link goes down, not degraded first.
    quality, quality_reason, calm = _quality(window[: len(window) - bad], check)
    h = replace(
        h,
        window=window,
        good=h.good + 1 if ok else 0,
        bad=bad,
        calm=h.calm + 1 if calm and ok else 0,
        suspect=h.suspect and not ok,
    )
    if h.verdict in ("up", "degraded"):
        if h.bad >= check.fall:
            reason = f"{h.bad} rounds failed: {_failures(event.results)}"
            return replace(h, verdict="down", reason=reason)
        if quality == "down" or (quality == "degraded" and h.verdict == "up"):
            return replace(h, verdict=quality, reason=quality_reason)
        if h.verdict == "degraded" and quality == "up" and h.calm >= check.rise:
            return replace(h, verdict="up", reason=f"quality recovered for {h.calm} rounds")
        return h
    # down: come back after `rise` good rounds, judged on those rounds only.
    if h.good >= check.rise:
        recent = replace(h, window=window[-h.good :])
        quality, quality_reason, _ = _quality(recent.window, check)
        if quality == "down":
            return h
        reason = quality_reason if quality == "degraded" else f"{h.good} good rounds"
        return replace(recent, verdict=quality, reason=reason)
    return h


def step(
    h: LinkHealth, event: Event, check: HealthCheck | None
) -> tuple[LinkHealth, Transition | None]:
    """Apply one event; returns the new health and the transition it caused, if any."""
    before = h.state
    if isinstance(event, ProbeRound):
        if check is None:
            return h, None
        h = _probe_round(h, event, check)
    elif isinstance(event, InterfaceChange):
        if not event.present:
            h = replace(h, present=False, reason="interface gone")
        elif not event.carrier:
            h = replace(h, present=True, carrier=False, reason="carrier lost")
        elif not (h.present and h.carrier):
            # Back: trusted again only after `rise` good rounds (unless never probed).
            was = "interface back" if not h.present else "carrier back"
            verdict: Verdict = "down" if check else "up"
            reason = f"{was}, waiting for {check.rise} good rounds" if check else was
            h = replace(h, present=True, carrier=True, verdict=verdict, good=0, bad=0,
                        reason=reason)  # fmt: skip
    elif isinstance(event, PassiveAlarm):
        if check is None or h.verdict == "down":
            return h, None
        if event.down:
            h = replace(h, verdict="down", good=0, suspect=False, reason=f"passive: {event.reason}")
        else:
            h = replace(h, suspect=True)
    elif event.disabled != h.disabled:
        reason = "disabled by operator" if event.disabled else "enabled by operator"
        h = replace(h, disabled=event.disabled, reason=reason)
    state = _effective(h)
    if state == before:
        return h, None
    h = replace(h, state=state, since=event.at)
    return h, Transition(before, state, event.at, h.reason)


def next_interval(h: LinkHealth, check: HealthCheck) -> float:
    """Probe faster while a link is failing (some failures or a passive alarm, not yet
    down) or recovering."""
    failing = h.verdict != "down" and (h.bad > 0 or h.suspect)
    recovering = h.verdict == "down" and h.good > 0
    return check.probe_interval_fast if failing or recovering else check.interval
