"""What the engine decides to do, as values: the executor (executor.py) carries them out.

An effect whose outcome the engine must know (kernel reads and writes, loading the config)
comes back as an event, handled before the next event from the queue; the others (flushes,
hooks, replies, log lines) are fire-and-forget, and their failures are logged and counted
by the executor, never seen by the engine.
"""

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from multiwan.config.schema import Config
from multiwan.core.linkstate import State
from multiwan.core.plan import Plan
from multiwan.core.pools import Seat, Seated
from multiwan.core.strategy import Availability
from multiwan.core.tunnels import TunnelSpec
from multiwan.daemon.confirm import Pending
from multiwan.daemon.events import DaemonEvent, FallbackUpdate, PolicyUpdate, Reply
from multiwan.daemon.hooks import HookEvent


@dataclass(frozen=True)
class ReadFacts:
    """Read presence, carrier and addresses of these interfaces (and, for least-loaded
    pools, the neighbour table) -> FactsRead."""

    interfaces: tuple[str, ...]
    neighbours: bool = False


@dataclass(frozen=True)
class ApplyConfig:
    """A full reconcile: compile, diff against the kernel, apply -> Reconciled."""

    config: Config
    available: Availability
    backends: Mapping[str, Set[str]]
    seated: Seated


@dataclass(frozen=True)
class Apply:
    """Execute a fast-path plan on the kernel -> Applied or ApplyFailed."""

    plan: Plan
    purpose: PolicyUpdate | FallbackUpdate


@dataclass(frozen=True)
class Flush:
    """Delete the conntrack entries of one mark (a dead link's, or last resort's)."""

    label: str
    mark: int
    mask: int


@dataclass(frozen=True)
class FlushBackend:
    """Delete the conntrack entries towards one dead service backend."""

    address: str
    protocol: str
    port: int | None


@dataclass(frozen=True)
class SaveStates:
    """Persist link states so a restart does not revive a dead link."""

    states: Mapping[str, State]


@dataclass(frozen=True)
class RunHooks:
    event: HookEvent
    directory: str
    timeout: float


@dataclass(frozen=True)
class SaveMode:
    """Persist the runtime mode across restarts (none: forget it) -> ModeSaved."""

    modes: tuple[str, ...]


@dataclass(frozen=True)
class SaveWeights:
    """Persist the measured weights of auto links, so a restart keeps them."""

    weights: Mapping[str, int]


@dataclass(frozen=True)
class SaveSeats:
    """Persist the seats of least-loaded pools, so a restart keeps every client's link."""

    seats: Mapping[str, Mapping[str, Seat]]


@dataclass(frozen=True)
class ScheduleReconcile:
    """Queue a Reconcile event after `delay` seconds."""

    delay: float


@dataclass(frozen=True)
class LoadConfig:
    """Read the config file again -> ConfigLoaded or ConfigRejected."""

    reply: Reply | None = None
    pending: Pending | None = None  # `reload --confirm`


@dataclass(frozen=True)
class ScheduleRevert:
    """Queue a RevertDue event when `pending`'s time is up."""

    pending: Pending
    delay: float


@dataclass(frozen=True)
class RestartProbes:
    """Start the probe loops of the current config (after a reload)."""


@dataclass(frozen=True)
class ProbeNow:
    """Start the link's next probe round now (a passive alarm), not after its interval."""

    link: str


@dataclass(frozen=True)
class MeasureCapacity:
    """Run a `weight = "auto"` link's measurement command (daemon/capacity.py) in the
    background -> CapacityMeasured."""

    link: str
    argv: tuple[str, ...]
    timeout: float


@dataclass(frozen=True)
class StartTunnel:
    """Start a tunnel process (daemon/tunnels.py) -> TunnelStarted, then TunnelExited when
    it ends (both queued: starting takes a while and must not hold the engine)."""

    spec: TunnelSpec
    attempt: int


@dataclass(frozen=True)
class StopTunnel:
    """End the tunnel process `attempt` of `link` -> TunnelExited (queued)."""

    link: str
    attempt: int


@dataclass(frozen=True)
class ScheduleTunnelRetry:
    """Queue a TunnelRetry event after `delay` seconds (the backoff after an exit)."""

    link: str
    attempt: int
    delay: float


@dataclass(frozen=True)
class Answer:
    """Answer a control request."""

    reply: Reply
    payload: dict[str, Any]


@dataclass(frozen=True)
class Log:
    level: int
    text: str
    fields: Mapping[str, str] = field(default_factory=dict)  # journal fields (LINK=...)


@dataclass(frozen=True)
class Continue:
    """Hand `event` back to the engine once the effects before this one are done (a reply
    that must show their result)."""

    event: DaemonEvent


Effect = (
    ReadFacts | ApplyConfig | Apply | Flush | FlushBackend | SaveStates | SaveMode | SaveSeats
    | SaveWeights | RunHooks | StartTunnel | StopTunnel | ScheduleTunnelRetry
    | ScheduleReconcile | ScheduleRevert | LoadConfig | RestartProbes | ProbeNow | MeasureCapacity
    | Answer | Log | Continue
)  # fmt: skip
