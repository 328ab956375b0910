"""config + discovered links + which links are live -> the kernel state multiwan wants.

A pure function: the CLI, the daemon and the golden tests all call it the same way. The part
that link health changes (the one-rule chains and the fallback table) is `dynamic_state`,
which the daemon's fast path uses alone.
"""

from collections.abc import Mapping, Set
from dataclasses import dataclass, replace

from multiwan.config.schema import RESERVED_VIA, Config
from multiwan.core.links import ResolvedLink
from multiwan.core.model import DesiredState, Family, Route, Rule, Sysctl
from multiwan.core.nft import (
    FAMILIES,
    build_nft,
    default_rule,
    dynamic_rule,
    idle_pin_rules,
    pin_chain,
    pinned_links,
    policy_chain,
    source_pin_rules,
    strategy_rules,
)
from multiwan.core.ownership import link_table
from multiwan.core.pools import Seated, seats_of
from multiwan.core.routing import (
    default_routes,
    fallback_routes,
    link_routes,
    link_sysctls,
    local_sources,
    route_policies,
    route_policy_rules,
    route_sysctls,
    routing_rules,
    steering_rules,
)
from multiwan.core.services import service_rules
from multiwan.core.strategy import Availability, Choice, choose, pin


def choices_for(
    config: Config,
    links: list[ResolvedLink],
    available: Availability | Set[str],
    family: Family,
    seated: Seated | None = None,
) -> dict[str, Choice]:
    """The current choice of every policy chain and pin chain of `family`.

    A plain set means those links are live. Each family chooses only among links that route
    it; links that cannot be routed or are disabled in the config never take connections.
    `seated`: per least-loaded policy, the link of each client address (core/pools.py)."""
    if not isinstance(available, Availability):
        available = Availability(frozenset(available))
    by_name = {link.name: link for link in links}
    able = {link.name for link in links if link.enabled and link.addressing(family) is not None}
    usable = available.within(able)
    choices: dict[str, Choice] = {}
    for name, policy in config.policies.items():
        choice = choose(policy, by_name, usable)
        if seated and name in seated:
            choice = replace(choice, seats=seats_of(seated[name], choice.shares, family))
        choices[policy_chain(name, family)] = choice
    for link in pinned_links(config):  # only with links, so with a default policy
        default = config.default_policy or "main"
        choices[pin_chain(link, family)] = pin(link, usable, default, config)
    return choices


def default_choice(config: Config, choices: Mapping[str, Choice], family: Family) -> Choice:
    """What the default policy (or link) does now for `family`, following last resorts
    that name another policy. Only for configs with links (they have a default policy)."""
    default = config.default_policy or RESERVED_VIA
    chain = (
        policy_chain(default, family) if default in config.policies else pin_chain(default, family)
    )
    seen: set[str] = set()
    choice = choices[chain]
    while not choice.shares and choice.last_resort.startswith("policy:") and chain not in seen:
        seen.add(chain)
        chain = policy_chain(choice.last_resort.removeprefix("policy:"), family)
        choice = choices[chain]
    return choice


@dataclass(frozen=True)
class DynamicState:
    """What link health, weights and runtime control change: the text of each one-rule chain
    (without digest), and the default routes of the fallback table and of route policies'
    tables (`fallback`)."""

    rules: Mapping[str, str]
    fallback: frozenset[Route]


def dynamic_state(
    config: Config,
    links: list[ResolvedLink],
    live: Availability | Set[str],
    backends: Mapping[str, Set[str]] | None = None,
    local: Mapping[Family, str] | None = None,
    seated: Seated | None = None,
) -> DynamicState:
    """`local`: the non-uplink addresses discovered per family (for `local_source`);
    `seated`: the clients of least-loaded policies (none: every client is a newcomer)."""
    if not config.links:  # services only: no policies, pins or fallback table
        return DynamicState(service_rules(config.services, backends), frozenset())
    choices = {family: choices_for(config, links, live, family, seated) for family in FAMILIES}
    rules = {
        chain: dynamic_rule(choice, family)
        for family in FAMILIES
        for chain, choice in choices[family].items()
    }
    rules.update(strategy_rules(config, choices))
    rules.update(idle_pin_rules(config))
    rules.update(default_rule(config))
    rules.update(source_pin_rules(links))
    rules.update(service_rules(config.services, backends))
    by_name = {link.name: link for link in links}
    defaults = {family: default_choice(config, choices[family], family) for family in FAMILIES}
    sources = local_sources(config, local or {}, (link for link in links if link.routable))
    routes = fallback_routes(by_name, defaults, sources)
    for name, index in route_policies(config).items():
        for family in FAMILIES:
            choice = choices[family][policy_chain(name, family)]
            routes |= default_routes(link_table(index), by_name, choice, family)
    return DynamicState(rules, frozenset(routes))


def compile_state(
    config: Config,
    links: list[ResolvedLink],
    live: Availability | Set[str],
    backends: Mapping[str, Set[str]] | None = None,
    local: Mapping[Family, str] | None = None,
    seated: Seated | None = None,
) -> DesiredState:
    """Everything multiwan wants in the kernel for this config, link health, (for
    services) which backends are live (None: all of them), the router's non-uplink
    addresses and the seated clients of least-loaded policies."""
    if not config.links:  # an inbound balancer only: routing is left exactly as it is
        nft = build_nft(config, [], dynamic_state(config, [], live, backends).rules)
        return DesiredState(nft, frozenset(), frozenset(), frozenset())
    routable = [link for link in links if link.routable]
    dynamic = dynamic_state(config, links, live, backends, local, seated)
    routes: set[Route] = set(dynamic.fallback)
    for link in routable:
        routes |= link_routes(link)
    rules: set[Rule] = routing_rules(routable) | steering_rules(config, routable)
    rules |= route_policy_rules(config)
    sysctls: set[Sysctl] = link_sysctls(routable) | route_sysctls(config)
    return DesiredState(
        nft=build_nft(config, links, dynamic.rules),
        routes=frozenset(routes),
        rules=frozenset(rules),
        sysctls=frozenset(sysctls),
        dynamic_routes=dynamic.fallback,
    )
