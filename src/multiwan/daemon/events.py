"""Everything the daemon reacts to, as values on one queue with one consumer."""

import asyncio
from dataclasses import dataclass
from typing import Any

from multiwan.core.linkstate import ProbeRound
from multiwan.kernel.events import KernelEvent


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
    """Addresses or routes changed: compare the kernel with what we want and fix it."""


@dataclass(frozen=True)
class Control:
    """A request from the control socket; the engine answers through `reply`."""

    command: str
    args: dict[str, Any]
    reply: "asyncio.Future[dict[str, Any]]"


DaemonEvent = ProbeDone | Reload | Reconcile | Control | KernelEvent
