"""What a probe returns: never an exception, always a verdict with a reason a person reads."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    rtt: float | None = None  # seconds
    error: str | None = None  # e.g. "timeout after 0.5s", "HTTP 503, expected 200"


def failure(error: str) -> ProbeResult:
    return ProbeResult(False, None, error)


def os_error(exc: OSError) -> ProbeResult:
    return failure(exc.strerror or type(exc).__name__)
