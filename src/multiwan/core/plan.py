"""desired vs actual -> the smallest change that makes the kernel match: a Plan.

`plan` prints it, `apply` executes it, `flush` is the plan to an empty state, and applying
twice yields an empty plan. Everything is sorted so output is deterministic.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace

from multiwan.core.model import ActualState, DesiredState, Route, Rule, Sysctl
from multiwan.core.nft import delete_script, digest, dynamic_script, full_script, with_digest
from multiwan.core.ownership import TABLE_FALLBACK


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
    #: Sets whose elements the executor carries into the table `nft_script` replaces.
    nft_kept_sets: tuple[str, ...] = ()

    def replaced(self, route: Route) -> bool:
        """A deleted route that an add replaces in place: no packet meets a table without a
        route for its destination."""
        return any(
            (a.table, a.family, a.dst) == (route.table, route.family, route.dst)
            for a in self.route_adds
        )

    def split_nft(self) -> tuple["Plan", "Plan"]:
        """(the nft step alone, everything else): the daemon's fast path applies the step
        that moves forwarded traffic first."""
        nft = Plan(
            nft_script=self.nft_script,
            nft_summary=self.nft_summary,
            nft_kept_sets=self.nft_kept_sets,
        )
        return nft, replace(self, nft_script="", nft_summary="", nft_kept_sets=())

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


def route_changes(
    desired: frozenset[Route], actual: frozenset[Route]
) -> tuple[tuple[Route, ...], tuple[Route, ...]]:
    """(deletes, adds); the executor lets an add replace a deleted route with the same
    table and destination in one step (see `Plan.replaced`). The fallback table's routes
    come last: they name the links' gateways, so a gateway the kernel refuses fails first
    in its own link's table, which tells whose it is."""
    adds = sorted(desired - actual, key=lambda r: (r.table == TABLE_FALLBACK, r))
    return tuple(sorted(actual - desired)), tuple(adds)


def diff(desired: DesiredState, actual: ActualState) -> Plan:
    """The changes that turn `actual` into `desired`.

    Sysctls whose key does not exist (interface absent) are skipped: there is nothing to set.
    """
    nft_script, summary = "", ""
    kept: tuple[str, ...] = ()
    if actual.nft is None or actual.nft.static != desired.nft.digests.static:
        nft_script = full_script(desired.nft)
        summary = "create table" if actual.nft is None else "replace table (config changed)"
        kept = desired.nft.kept_sets if actual.nft is not None else ()
    else:
        stale = sorted(
            chain
            for chain, tag in desired.nft.digests.dynamic.items()
            if actual.nft.dynamic.get(chain) != tag
        )
        if stale:
            nft_script = dynamic_script(desired.nft.dynamic, stale)
            summary = f"update {', '.join(stale)}"
    route_deletes, route_adds = route_changes(desired.routes, actual.routes)
    return Plan(
        sysctls=_sysctl_changes(desired.sysctls, actual.sysctls),
        route_deletes=route_deletes,
        route_adds=route_adds,
        rule_adds=tuple(sorted(desired.rules - actual.rules)),
        rule_deletes=tuple(sorted(actual.rules - desired.rules)),
        nft_script=nft_script,
        nft_summary=summary,
        nft_kept_sets=kept,
    )


def dynamic_plan(
    rules: Mapping[str, str],
    fallback: frozenset[Route],
    applied: Mapping[str, str],
    applied_fallback: frozenset[Route],
) -> tuple[Plan, dict[str, str]]:
    """The daemon's fast path: rewrite only the one-rule chains whose rule changed (by
    digest, against `applied`) and the dynamic default routes (the fallback table's and
    route policies', against `applied_fallback`); with the new digests."""
    digests = {chain: digest(rule) for chain, rule in rules.items()}
    stale = sorted(chain for chain, tag in digests.items() if applied.get(chain) != tag)
    tagged = {chain: with_digest(rules[chain])[0] for chain in stale}
    route_deletes, route_adds = route_changes(fallback, applied_fallback)
    plan = Plan(
        route_deletes=route_deletes,
        route_adds=route_adds,
        nft_script=dynamic_script(tagged, stale) if stale else "",
        nft_summary=f"update {', '.join(stale)}" if stale else "",
    )
    return plan, digests


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
