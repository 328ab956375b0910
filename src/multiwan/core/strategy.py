"""What each policy does right now, given which links are live: the balancing decision.

This is the part of the data plane that changes at run time; it compiles to one small nft
chain per policy, so a link going down or a weight change rewrites only those chains.
"""

from collections.abc import Mapping, Set
from dataclasses import dataclass

from multiwan.config.schema import Config, Policy
from multiwan.core.links import ResolvedLink


@dataclass(frozen=True)
class Choice:
    """Links that take new connections, with integer weights; empty means last resort."""

    shares: tuple[tuple[str, int], ...]
    last_resort: str = "main"  # main | unreachable | blackhole | policy:<name>


def choose(policy: Policy, links: Mapping[str, ResolvedLink], live: Set[str]) -> Choice:
    """Live members of the best live tier: all of them by weight, or the first (failover)."""
    candidates = []
    for order, member in enumerate(policy.members()):
        link = links[member.link]
        if member.link not in live:
            continue
        tier = member.priority if member.priority is not None else link.priority
        weight = member.weight if member.weight is not None else link.weight
        candidates.append((tier, order, member.link, weight))
    if not candidates:
        return Choice((), policy.last_resort)
    best = min(tier for tier, *_ in candidates)
    tier_members = sorted(c for c in candidates if c[0] == best)
    if policy.strategy == "failover":
        _, _, name, _ = tier_members[0]
        return Choice(((name, 1),), policy.last_resort)
    return Choice(tuple((name, weight) for _, _, name, weight in tier_members), policy.last_resort)


def pin(link: str, live: Set[str], default_policy: str, config: Config) -> Choice:
    """A rule's `via = <link>`: that link while live, else the default policy (or main)."""
    if link in live:
        return Choice(((link, 1),))
    if default_policy in config.policies:
        return Choice((), f"policy:{default_policy}")
    return Choice((), "main")
