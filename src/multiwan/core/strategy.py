"""What each policy does right now, given which links are live: the balancing decision.

This is the part of the data plane that changes at run time; it compiles to one small nft
chain per policy, so a link going down or a weight change rewrites only those chains.
"""

from collections.abc import Mapping, Set
from dataclasses import dataclass, field, replace

from multiwan.config.schema import Config, Member, Policy
from multiwan.core.buckets import assign
from multiwan.core.links import ResolvedLink


@dataclass(frozen=True)
class Availability:
    """Which links take new connections: `live` ones, `reserve` ones only when no live
    member is left in a policy (degraded links kept as a last resort), weights that replace
    a link's configured one in every policy (degraded links with a reduced weight), and the
    measured weights of `weight = "auto"` links (a policy member's own weight goes first)."""

    live: frozenset[str]
    reserve: frozenset[str] = frozenset()
    weights: Mapping[str, int] = field(default_factory=dict)
    measured: Mapping[str, int] = field(default_factory=dict)

    def within(self, able: Set[str]) -> "Availability":
        """Only the links in `able` (those with routes) take new connections."""
        return replace(self, live=self.live & able, reserve=self.reserve & able)


def availability(
    config: Config,
    states: Mapping[str, str],
    drained: Set[str],
    measured: Mapping[str, int] | None = None,
) -> Availability:
    """Which links take new connections, from each link's health state: up links are live;
    degraded ones are live, live with `degraded_weight`, or reserve (`degraded_action`);
    drained ones take none (their connections finish). `measured`: the weights of
    `weight = "auto"` links (core/autoweight.py); a degraded weight goes before them."""
    live, reserve, weights = set(), set(), {}
    auto = {n for n, link in config.links.items() if link.weight == "auto"}
    for name, state in states.items():
        check = config.health_of(name)
        if name in drained:
            continue
        if state == "up":
            live.add(name)
        elif state == "degraded" and check is not None:
            if check.degraded_action == "last_resort":
                reserve.add(name)
            else:
                live.add(name)
                if check.degraded_action == "weight" and check.degraded_weight:
                    weights[name] = check.degraded_weight
    measured = {n: w for n, w in (measured or {}).items() if n in auto}
    return Availability(frozenset(live), frozenset(reserve), weights, measured)


@dataclass(frozen=True)
class Choice:
    """Links that take new connections, with integer weights; empty means last resort.

    `strategy` says how the shares are drawn (see config.schema.Policy); `buckets` is the
    link of each hash bucket for `destination` and `source` (core.buckets)."""

    shares: tuple[tuple[str, int], ...]
    last_resort: str = "main"  # main | unreachable | blackhole | policy:<name>
    strategy: str = "balance"
    buckets: tuple[str, ...] = ()
    #: least-loaded: (client address, link) of every seated client (core/pools.py).
    seats: tuple[tuple[str, str], ...] = ()


#: Strategies that hash an address into buckets (core.buckets).
HASHED = ("destination", "source")


def choose(policy: Policy, links: Mapping[str, ResolvedLink], usable: Availability) -> Choice:
    """Live members of the best live tier: all of them by weight, or the first (failover).
    Reserve links count only when no member is live."""
    members = [m for m in policy.members() if m.link in usable.live]
    if not members:
        members = [m for m in policy.members() if m.link in usable.reserve]
    candidates = []
    for order, member in enumerate(members):
        tier = member.priority if member.priority is not None else links[member.link].priority
        candidates.append((tier, order, member.link, _weight(member, links, usable)))
    if not candidates:
        return Choice((), policy.last_resort, policy.strategy)
    best = min(tier for tier, *_ in candidates)
    tier_members = sorted(c for c in candidates if c[0] == best)
    if policy.strategy == "failover":
        _, _, name, _ = tier_members[0]
        return Choice(((name, 1),), policy.last_resort)
    shares = tuple((name, weight) for _, _, name, weight in tier_members)
    buckets: tuple[str, ...] = ()
    if policy.strategy in HASHED:
        # Every member, live or not, keeps its place in the table: only dead ones' buckets move.
        every = [(m.link, _weight(m, links, usable)) for m in policy.members()]
        buckets = assign(every, {name for name, _ in shares})
    return Choice(shares, policy.last_resort, policy.strategy, buckets)


def _weight(member: Member, links: Mapping[str, ResolvedLink], usable: Availability) -> int:
    weight = member.weight
    if weight is None:
        weight = usable.measured.get(member.link, links[member.link].weight)
    return usable.weights.get(member.link, weight)


def pin(link: str, usable: Availability, default_policy: str, config: Config) -> Choice:
    """A rule's `via = <link>`: that link while live, else the default policy (or main)."""
    if link in usable.live or link in usable.reserve:
        return Choice(((link, 1),))
    if default_policy in config.policies:
        return Choice((), f"policy:{default_policy}")
    return Choice((), "main")
