"""config + discovered links + which links are live -> the kernel state multiwan wants.

A pure function: the CLI, the daemon and the golden tests all call it the same way.
"""

from collections.abc import Mapping, Set

from multiwan.config.schema import Config
from multiwan.core.links import ResolvedLink
from multiwan.core.model import DesiredState, Route, Rule, Sysctl
from multiwan.core.nft import build_nft, pin_chain, policy_chain
from multiwan.core.routing import link_routes, link_sysctls, routing_rules
from multiwan.core.strategy import Availability, Choice, choose, pin


def choices_for(
    config: Config, links: list[ResolvedLink], available: Availability | Set[str]
) -> dict[str, Choice]:
    """The current choice of every policy chain and every link a rule pins to.

    A plain set means those links are live. Links that cannot be routed or are disabled in
    the config never take connections."""
    if not isinstance(available, Availability):
        available = Availability(frozenset(available))
    by_name = {link.name: link for link in links}
    able = {link.name for link in links if link.routable and link.enabled}
    usable = Availability(available.live & able, available.reserve & able, available.weights)
    choices = {
        policy_chain(name): choose(policy, by_name, usable)
        for name, policy in config.policies.items()
    }
    pinned = {rule.via for rule in config.rules if rule.via in config.links}
    if config.default_policy in config.links:
        pinned.add(config.default_policy)
    for link in pinned:  # only with links, so with a default policy
        choices[pin_chain(link)] = pin(link, usable, config.default_policy or "main", config)
    return choices


def compile_state(
    config: Config,
    links: list[ResolvedLink],
    live: Availability | Set[str],
    backends: Mapping[str, Set[str]] | None = None,
) -> DesiredState:
    """Everything multiwan wants in the kernel for this config, link health and (for
    services) which backends are live (None: all of them)."""
    if not config.links:  # an inbound balancer only: routing is left exactly as it is
        return DesiredState(build_nft(config, [], {}, backends), frozenset(), frozenset(),
                            frozenset())  # fmt: skip
    routable = [link for link in links if link.routable]
    routes: set[Route] = set()
    for link in routable:
        routes |= link_routes(link)
    rules: set[Rule] = routing_rules(routable)
    sysctls: set[Sysctl] = link_sysctls(routable)
    return DesiredState(
        nft=build_nft(config, links, choices_for(config, links, live), backends),
        routes=frozenset(routes),
        rules=frozenset(rules),
        sysctls=frozenset(sysctls),
    )
