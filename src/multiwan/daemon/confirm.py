"""A change that undoes itself unless confirmed (netplan `try`, Junos `commit confirmed`):
the daemon's side of `reload --confirm SECONDS` and `apply --confirm SECONDS`.

The state is a value with time as an argument, so its rules are tested without waiting; the
engine runs the timer and the revert (a reload with the previous config). One change at a
time: a second one while the first awaits confirmation is refused, so a revert always
returns to a config that was confirmed (or never questioned).
"""

from dataclasses import dataclass

from multiwan.config.schema import Config
from multiwan.daemon.runtime import RuntimeError_

MAX_SECONDS = 3600


@dataclass(frozen=True)
class Pending:
    """A change awaiting `multiwan confirm`: the config to go back to, and by when."""

    previous: Config
    deadline: float  # monotonic seconds


class Confirmation:
    def __init__(self) -> None:
        self.pending: Pending | None = None

    def begin(self, previous: Config, now: float, seconds: int) -> Pending:
        if not 1 <= seconds <= MAX_SECONDS:
            raise RuntimeError_(f"confirm within 1-{MAX_SECONDS} seconds, got {seconds}")
        if self.pending is not None:
            raise RuntimeError_(
                f"the last change awaits confirmation (multiwan confirm) or its revert in "
                f"{max(0.0, self.pending.deadline - now):.0f} s; no other change until then"
            )
        self.pending = Pending(previous, now + seconds)
        return self.pending

    def cancel(self, pending: Pending) -> None:
        """The change did not happen (its config was rejected): nothing to confirm."""
        if self.pending is pending:
            self.pending = None

    def confirm(self) -> None:
        if self.pending is None:
            raise RuntimeError_("no change awaits confirmation")
        self.pending = None

    def due(self, pending: Pending, now: float) -> bool:
        """`pending`'s timer fired: True (and it is forgotten) when it must be reverted,
        False when it was confirmed meanwhile or the time has not come."""
        if self.pending is not pending or now < pending.deadline:
            return False
        self.pending = None
        return True

    def describe(self, now: float) -> dict[str, float] | None:
        """For status: seconds left before the revert, when a change awaits confirmation."""
        if self.pending is None:
            return None
        return {"revert_in": round(max(0.0, self.pending.deadline - now), 1)}
