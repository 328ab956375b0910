"""The passive failure signal: what the users' own new TCP connections say about a link.

A router sees its users' handshakes. When a link's internet dies, new connections through
it stop getting answers (no SYN-ACK, no reset) long before three probe rounds have failed.
One far server that never answers must not trip a link, so the alarm needs unanswered
connections towards `destinations` distinct addresses, all started after the link last
answered any connection: an answer proves the path worked after everything before it.

`observe(passive, handshakes, now, destinations) -> (passive, alarm)` is pure; the watcher
(kernel/ctwatch.py) measures the handshakes, the engine acts on the alarm (probe at once,
or take the link down with `passive_down`).
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace

#: Unanswered connections older than this say nothing about the link now: a quiet link's
#: odd dead server an hour ago and another one now are not an outage.
EVIDENCE_SECONDS = 10.0


@dataclass(frozen=True)
class Handshake:
    """One new TCP connection through a link, as the watcher saw it end its handshake."""

    started: float  # when its first SYN was seen (monotonic seconds)
    destination: str
    answered: bool  # SYN-ACK or reset; False: nothing within the link's passive_timeout


@dataclass(frozen=True)
class Passive:
    """Per link: the evidence so far and counts for status and metrics."""

    last_answer: float | None = None  # start of the latest connection that was answered
    unanswered: tuple[tuple[str, float], ...] = ()  # (destination, latest start), since then
    answered_total: int = 0
    unanswered_total: int = 0
    alarms: int = 0
    last_alarm: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "answered": self.answered_total,
            "unanswered": self.unanswered_total,
            "suspect_destinations": len(self.unanswered),
            "alarms": self.alarms,
            "last_alarm": self.last_alarm,
        }


def observe(
    passive: Passive,
    handshakes: Sequence[Handshake],
    now: float,
    destinations: int,
    armed: bool = True,
) -> tuple[Passive, str | None]:
    """Fold the handshakes in; the alarm's reason when `destinations` distinct destinations
    went unanswered since the last answer (the evidence then starts over). Not `armed` (the
    link is down already): counted, but no evidence is kept and no alarm raised, so the
    connections still failing on a dead link never count as an alarm of their own."""
    last = passive.last_answer
    for shake in handshakes:
        if shake.answered and (last is None or shake.started > last):
            last = shake.started
    since = now - EVIDENCE_SECONDS if last is None else max(last, now - EVIDENCE_SECONDS)
    latest = dict(passive.unanswered)
    for shake in handshakes:
        if not shake.answered:
            latest[shake.destination] = max(shake.started, latest.get(shake.destination, 0.0))
    evidence = tuple(sorted((d, at) for d, at in latest.items() if at > since))
    answered = sum(1 for shake in handshakes if shake.answered)
    passive = replace(
        passive,
        last_answer=last,
        unanswered=evidence,
        answered_total=passive.answered_total + answered,
        unanswered_total=passive.unanswered_total + len(handshakes) - answered,
    )
    if not armed:
        return replace(passive, unanswered=()), None
    if len(evidence) < destinations:
        return passive, None
    names = ", ".join(d for d, _ in evidence[:3]) + (", ..." if len(evidence) > 3 else "")
    reason = f"new connections to {len(evidence)} destinations unanswered ({names})"
    return replace(passive, unanswered=(), alarms=passive.alarms + 1, last_alarm=reason), reason
