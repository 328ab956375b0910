"""desired vs actual -> the smallest change that makes the kernel match: a Plan.

`plan` prints it, `apply` executes it, `flush` is the plan to an empty state, and applying
twice yields an empty plan. Everything is sorted so output is deterministic.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from multiwan.core.model import ActualState, DesiredState, Route, Rule, Sysctl
from multiwan.core.nft import delete_script, dynamic_script, full_script


@dataclass(frozen=True)
class SysctlChange:
    key: str
    old: str | None  # None: the key does not exist now
    new: str


@dataclass(frozen=True)
class Plan:
    """Changes in the order the executor applies them (nft last: it is the only part that
    moves traffic, and it applies atomically or not at all)."""

    sysctls: tuple[SysctlChange, ...] = ()
    route_deletes: tuple[Route, ...] = ()
    route_adds: tuple[Route, ...] = ()
    rule_adds: tuple[Rule, ...] = ()
    rule_deletes: tuple[Rule, ...] = ()
    nft_script: str = ""
    nft_summary: str = ""

    @property
    def empty(self) -> bool:
        return not (
            self.sysctls
            or self.route_deletes
            or self.route_adds
            or self.rule_adds
            or self.rule_deletes
            or self.nft_script
        )

    def render(self) -> str:
        """Human-readable plan, one change per line; the nft script in full."""
        if self.empty:
            return "No changes: the kernel matches the config.\n"
        lines = [
            f"sysctl {c.key}: {c.old if c.old is not None else '-'} -> {c.new}"
            for c in self.sysctls
        ]
        lines += [f"- {r.render()}" for r in self.route_deletes]
        lines += [f"+ {r.render()}" for r in self.route_adds]
        lines += [f"+ {r.render()}" for r in self.rule_adds]
        lines += [f"- {r.render()}" for r in self.rule_deletes]
        if self.nft_script:
            lines.append(f"nft: {self.nft_summary}")
            lines += [f"    {line}" for line in self.nft_script.rstrip("\n").splitlines()]
        return "\n".join(lines) + "\n"


def _sysctl_changes(
    wanted: frozenset[Sysctl], actual: frozenset[Sysctl]
) -> tuple[SysctlChange, ...]:
    current = {s.key: s.value for s in actual}
    return tuple(
        SysctlChange(s.key, current.get(s.key), s.value)
        for s in sorted(wanted)
        if current.get(s.key) != s.value and s.key in current
    )


def diff(desired: DesiredState, actual: ActualState) -> Plan:
    """The changes that turn `actual` into `desired`.

    Sysctls whose key does not exist (interface absent) are skipped: there is nothing to set.
    """
    nft_script, summary = "", ""
    if actual.nft is None or actual.nft.static != desired.nft.digests.static:
        nft_script = full_script(desired.nft)
        summary = "create table" if actual.nft is None else "replace table (config changed)"
    else:
        stale = sorted(
            chain
            for chain, tag in desired.nft.digests.dynamic.items()
            if actual.nft.dynamic.get(chain) != tag
        )
        if stale:
            nft_script = dynamic_script(desired.nft, stale)
            summary = f"update {', '.join(stale)}"
    return Plan(
        sysctls=_sysctl_changes(desired.sysctls, actual.sysctls),
        route_deletes=tuple(sorted(actual.routes - desired.routes)),
        route_adds=tuple(sorted(desired.routes - actual.routes)),
        rule_adds=tuple(sorted(desired.rules - actual.rules)),
        rule_deletes=tuple(sorted(actual.rules - desired.rules)),
        nft_script=nft_script,
        nft_summary=summary,
    )


def flush_plan(actual: ActualState, originals: Mapping[str, str]) -> Plan:
    """Remove everything multiwan owns and put back the sysctl values found before apply."""
    restore = frozenset(Sysctl(key, value) for key, value in originals.items())
    return Plan(
        sysctls=_sysctl_changes(restore, actual.sysctls),
        route_deletes=tuple(sorted(actual.routes)),
        rule_deletes=tuple(sorted(actual.rules)),
        nft_script=delete_script() if actual.nft is not None else "",
        nft_summary="delete table" if actual.nft is not None else "",
    )
