"""Settings of `weight = "auto"`: how a link's capacity is measured and how often its weight
may follow it (core/autoweight.py decides)."""

from typing import Annotated, Literal

from pydantic import Field

from multiwan.config.base import Expected, Strict
from multiwan.config.health import Argument, LatencyMs

#: Weights are whole numbers, 1-1000 (the nft interval maps and nexthop weights take them).
WEIGHT_MAX = 1000

Window = Annotated[
    float, Field(ge=2, le=600), Expected("seconds, 2-600 (rates are kept for ten minutes)")
]


class AutoWeight(Strict):
    """How a `weight = "auto"` link is weighed. The weight is the capacity the link has shown,
    in Mbit/s (1-1000), scaled down by its probes' loss and, with `latency_ms`, by a mean RTT
    above that."""

    window: Window = Field(
        600,
        description="Seconds over which the peak rate the link carried is its capacity; a "
        "lower capacity shows within this time.",
    )
    direction: Literal["both", "rx", "tx"] = Field(
        "both",
        description="Which peak is the capacity: the higher of receive and transmit (both), "
        "receive only, or transmit only.",
    )
    idle_kbit: Annotated[float, Field(ge=0, le=10_000_000)] = Field(
        1000,
        description="A peak below this many kbit/s is no evidence: the weight is held (an "
        "idle link is not a slow one).",
    )
    hysteresis_pct: Annotated[float, Field(ge=0, le=100)] = Field(
        20,
        description="The weight moves only when the measured one differs from it by more "
        "than this percentage.",
    )
    min_interval: Annotated[float, Field(ge=1, le=86400)] = Field(
        60, description="Seconds at least between two changes of the weight."
    )
    latency_ms: LatencyMs = Field(
        None,
        description="A mean probe RTT above this scales the weight by latency_ms / RTT; 0 or "
        "omitted: latency is not weighed.",
    )
    initial: Annotated[int, Field(gt=0, le=WEIGHT_MAX)] = Field(
        10, description="The weight until the link has carried enough to be measured."
    )
    command: Annotated[list[Argument], Field(min_length=1)] | None = Field(
        None,
        description="A measurement program (argv) that prints the link's capacity: its first "
        "rate in bits with a unit ('download 38.5 Mbit/s', '900 kbps'), or one bare number "
        "(kbit/s). It gets LINK, INTERFACE, MARK, SOURCE and SOURCE6 to bind itself to the "
        "link; its result counts like a peak.",
    )
    command_interval: Annotated[float, Field(ge=10, le=604800)] = Field(
        3600, description="Seconds between runs of command."
    )
    command_timeout: Annotated[float, Field(ge=1, le=3600)] = Field(
        60, description="Seconds command may run before it is killed."
    )
