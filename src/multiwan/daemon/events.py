"""Everything the daemon reacts to, as values on one queue with one consumer; and the
outcomes of the engine's own effects, handed back to it before the next queued event."""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from multiwan.config.schema import Config
from multiwan.core.links import InterfaceFacts, ResolvedLink
from multiwan.core.linkstate import ProbeRound, State
from multiwan.core.model import Family, Route
from multiwan.core.passive import Handshake
from multiwan.core.plan import Plan
from multiwan.core.pools import Seat
from multiwan.core.tunnels import Implementation
from multiwan.daemon.confirm import Pending
from multiwan.daemon.rates import Rates
from multiwan.kernel.events import KernelEvent, NeighbourChanged

#: Where a control request's answer goes.
Reply = asyncio.Future[dict[str, Any]]


@dataclass(frozen=True)
class Start:
    """The daemon starts; `previous` are the link states the last run saved, `modes` what
    an operator made persistent with `mode --persist`, `weights` auto links' measured ones."""

    previous: Mapping[str, State]
    modes: tuple[str, ...] = ()
    seats: Mapping[str, Mapping[str, Seat]] = field(default_factory=dict)
    weights: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeDone:
    subject: str  # a link, or a backend (address:port) of `service`
    round: ProbeRound
    generation: int  # probe loops of an older config are ignored
    service: str | None = None


@dataclass(frozen=True)
class Reload:
    """SIGHUP: read the config again; keep the old one if the new one is invalid."""


@dataclass(frozen=True)
class Reconcile:
    """Time to compare the kernel with what we want and fix it (debounced changes, and
    retries after a failure)."""


@dataclass(frozen=True)
class Control:
    """A request from the control socket; the engine answers through `reply`."""

    command: str
    args: dict[str, Any]
    reply: Reply


@dataclass(frozen=True)
class ConnectionsCounted:
    """Tracked connections per mark, counted off the engine (a dump can take seconds)."""

    by_mark: Mapping[int, int]


@dataclass(frozen=True)
class HandshakesSeen:
    """New TCP connections whose handshake ended (answered, or not within the link's
    passive_timeout), by the link mark they carry (kernel/ctwatch.py)."""

    by_mark: Mapping[int, tuple[Handshake, ...]]


@dataclass(frozen=True)
class RatesSampled:
    """Each link's traffic rates, sampled once a second (daemon/rates.py)."""

    rates: Mapping[str, Rates]


@dataclass(frozen=True)
class CapacityMeasured:
    """A link's measurement command ended: the capacity it printed (kbit/s), or why not."""

    link: str
    kbit: float | None
    error: str | None = None


@dataclass(frozen=True)
class CountersRead:
    """multiwan's nft counters (None: the listing failed), for metrics."""

    listing: list[dict[str, Any]] | None


@dataclass(frozen=True)
class TunnelStarted:
    """Tunnel process `attempt` of `link` is set up and running (a kernel WireGuard tunnel
    has no process: pid None); `why` it runs in this implementation, when it was a choice."""

    link: str
    attempt: int
    pid: int | None
    implementation: Implementation
    why: str = ""


@dataclass(frozen=True)
class TunnelExited:
    """Tunnel process `attempt` of `link` ended (or could not be started): why."""

    link: str
    attempt: int
    reason: str


@dataclass(frozen=True)
class TunnelRetry:
    """The backoff after tunnel process `attempt` of `link` exited is over."""

    link: str
    attempt: int


# --- outcomes of effects -------------------------------------------------------------------
@dataclass(frozen=True)
class FactsRead:
    facts: Mapping[str, InterfaceFacts]  # by interface name
    neighbours: tuple[NeighbourChanged, ...] | None = None  # when asked for


@dataclass(frozen=True)
class Reconciled:
    """A full reconcile worked: what it found and loaded."""

    links: tuple[ResolvedLink, ...]
    local: Mapping[Family, str]
    digests: Mapping[str, str]  # dynamic chain -> digest now in the kernel
    fallback: frozenset[Route]
    summary: str | None  # what changed (None: nothing)


@dataclass(frozen=True)
class ReconcileFailed:
    error: str


@dataclass(frozen=True)
class Announce:
    """What caused a policy update, logged with its result: the line, its level (trouble
    warns) and its journal fields (LINK=, STATE=, ...)."""

    text: str
    level: int = logging.INFO
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyUpdate:
    """Why an `Apply` of one-rule chains runs: the digests it loads, and the fallback
    routes that follow it once it worked (the router's own sockets come second)."""

    digests: Mapping[str, str]
    changed: tuple[str, ...]
    routes: Plan
    fallback: frozenset[Route]
    announce: Announce  # what caused it, logged when it is done


@dataclass(frozen=True)
class FallbackUpdate:
    """Why an `Apply` of fallback routes runs (the second step of a PolicyUpdate)."""

    fallback: frozenset[Route]
    changed: tuple[str, ...]
    announce: Announce
    seconds: float  # the nft step before it


@dataclass(frozen=True)
class Applied:
    purpose: PolicyUpdate | FallbackUpdate
    seconds: float


@dataclass(frozen=True)
class ApplyFailed:
    purpose: PolicyUpdate | FallbackUpdate
    error: str


@dataclass(frozen=True)
class ModeSaved:
    """The persisted modes were written (error None) or could not be."""

    modes: tuple[str, ...]
    error: str | None


@dataclass(frozen=True)
class ConfigLoaded:
    config: Config
    reply: Reply | None
    pending: Pending | None = None  # `reload --confirm`: reverted unless confirmed


@dataclass(frozen=True)
class ConfigRejected:
    problems: tuple[str, ...]
    reply: Reply | None
    pending: Pending | None = None


@dataclass(frozen=True)
class RevertDue:
    """The time of a `reload --confirm` is up: revert unless it was confirmed."""

    pending: Pending


@dataclass(frozen=True)
class Reloaded:
    """The reconcile after a reload is done (continuation of ConfigLoaded)."""

    reply: Reply | None


@dataclass(frozen=True)
class Answered:
    """Runtime change done: answer with the status that shows it (continuation)."""

    reply: Reply


DaemonEvent = (
    Start | ProbeDone | Reload | Reconcile | Control | ConnectionsCounted | CountersRead
    | HandshakesSeen | RatesSampled | CapacityMeasured
    | FactsRead | Reconciled | ReconcileFailed | Applied | ApplyFailed | ModeSaved | ConfigLoaded
    | ConfigRejected | RevertDue | Reloaded | Answered | TunnelStarted | TunnelExited
    | TunnelRetry | KernelEvent
)  # fmt: skip
