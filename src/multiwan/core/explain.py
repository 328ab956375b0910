"""`multiwan explain`: which link a new connection would take now, and why.

It walks the same decisions the data plane makes, through the same functions: the arrival
on an uplink, the rules (first match wins), the policy's choice (`choices_for`, as the
one-rule chains are compiled), last resorts, then the `ip rule`s multiwan installs
(`routing_rules`, `steering_rules`) in priority order with the mark the connection gets.
Only the main table's own routes are an input: whether main has a route more specific than
its default for the destination (the `suppress_prefixlength 0` rule answers then).
"""

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from multiwan.config.schema import RESERVED_VIA, Config, Rule
from multiwan.core.compile import choices_for
from multiwan.core.links import ResolvedLink
from multiwan.core.model import Family
from multiwan.core.model import Rule as IpRule
from multiwan.core.nft import pin_chain, policy_chain
from multiwan.core.ownership import MarkSpace
from multiwan.core.routing import routing_rules, steering_rules, unique_sources
from multiwan.core.strategy import Availability, Choice

MAIN_TABLE = 254
#: The kernel's own rule after multiwan's: `32766: from all lookup main`.
MAIN_RULE = "pref 32766 from all lookup main (the kernel's default rule)"


@dataclass(frozen=True)
class Flow:
    """A new connection: addresses, protocol and ports, and the interface it arrives on
    (None: it does not arrive on one a rule or an uplink names)."""

    src: str
    dst: str
    proto: str | None = None
    dport: int | None = None
    sport: int | None = None
    iif: str | None = None

    @property
    def family(self) -> Family:
        return 4 if ipaddress.ip_address(self.dst).version == 4 else 6


@dataclass(frozen=True)
class Route:
    """Where one candidate link's packets are routed: the answering rule and table."""

    link: str | None  # None: the bypass or last-resort mark (main decides)
    share: float
    mark: int
    ip_rule: str
    table: str  # a table id, or "main"


@dataclass(frozen=True)
class Explanation:
    """The answer: the why, line by line, and where the connection goes."""

    reasons: tuple[str, ...]
    routes: tuple[Route, ...]  # empty: rejected or dropped (last resort)

    @property
    def link(self) -> str | None:
        """The link the connection takes, when it is certain (one candidate, routed by
        that link's own table)."""
        if len(self.routes) == 1 and self.routes[0].link is not None:
            route = self.routes[0]
            return route.link if route.table != "main" else None
        return None

    def render(self) -> str:
        lines = [*self.reasons]
        for route in self.routes:
            who = f"{route.link} ({route.share:.0%})" if route.link else "main"
            lines.append(f"  {who}: mark {route.mark:#x} -> {route.ip_rule} -> table {route.table}")
        return "\n".join(lines) + "\n"


def _port_in(port: int | None, specs: Sequence[int | str]) -> bool:
    if port is None:
        return False
    for spec in specs:
        low, _, high = str(spec).partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False


def _in(address: str, cidrs: Sequence[str]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(
        ip in ipaddress.ip_network(cidr) for cidr in cidrs if (":" in cidr) == (":" in address)
    )


def rule_matches(rule: Rule, flow: Flow) -> bool:
    """The nft match of core/nft.py `_rule_matches`, evaluated for one flow."""
    if rule.iif and rule.iif != flow.iif:
        return False
    if flow.family not in rule.families():
        return False
    if rule.src and not _in(flow.src, rule.src):
        return False
    if rule.dst and not _in(flow.dst, rule.dst):
        return False
    if rule.sport or rule.dport:
        if flow.proto not in ([rule.proto] if rule.proto else ["tcp", "udp"]):
            return False
        if rule.sport and not _port_in(flow.sport, rule.sport):
            return False
        return not rule.dport or _port_in(flow.dport, rule.dport)
    return rule.proto is None or rule.proto == flow.proto


def _label(index: int, rule: Rule) -> str:
    return f"rules[{index}]" + (f" ({rule.name!r})" if rule.name else "")


def _member_reasons(
    config: Config,
    policy: str,
    choice: Choice,
    by_name: Mapping[str, ResolvedLink],
    usable: Availability,
    states: Mapping[str, str],
    family: Family,
) -> list[str]:
    """Why each member of `policy` does or does not take this connection."""
    definition = config.policies[policy]
    chosen = dict(choice.shares)
    total = sum(chosen.values())
    lines = []
    tiers = {}
    for member in definition.members():
        link = by_name[member.link]
        tiers[member.link] = member.priority if member.priority is not None else link.priority
    live_tiers = [tiers[n] for n in tiers if n in usable.live or n in usable.reserve]
    best = min(live_tiers) if live_tiers else None
    for member in definition.members():
        name, link = member.link, by_name[member.link]
        state = states.get(name, "unknown")
        if name in chosen:
            why = f"weight {chosen[name]}, {chosen[name] / total:.0%} of new connections"
            if name in usable.reserve:
                why += " (degraded, kept as a last resort: no member is up)"
        elif not link.enabled:
            why = "enabled = false in the config"
        elif link.addressing(family) is None:
            why = f"no IPv{family} route (interface absent, down, or no gateway/address)"
        elif name in usable.reserve:
            why = "degraded, kept as a last resort while another member is live"
        elif name not in usable.live:
            why = f"{state}: takes no new connections"
        elif best is not None and tiers[name] != best:
            why = f"priority {tiers[name]}: tier {best} is preferred while it has a live link"
        else:
            why = f"failover: {choice.shares[0][0]} comes first"
        lines.append(f"  {name} [{state}, tier {tiers[name]}]: {why}")
    return lines


def _ip_rule(rule: IpRule) -> str:
    return rule.render().removeprefix(f"ip -{rule.family} rule ")


def _route(
    mark: int, flow: Flow, rules: Sequence[IpRule], main_specific: str | None
) -> tuple[str, str]:
    """(the ip rule that answers, its table) for a packet of `flow` with `mark`."""
    for rule in sorted(rules, key=lambda r: r.priority):
        if rule.family != flow.family:
            continue
        if rule.fwmark is not None and mark & (rule.fwmask or 0xFFFFFFFF) != rule.fwmark:
            continue
        if rule.dst and not _in(flow.dst, [rule.dst]):
            continue
        if rule.src and not _in(flow.src, [rule.src]):
            continue
        if rule.oif:  # sockets bound to a device; a new forwarded connection has none
            continue
        if rule.suppress_prefixlength is not None:
            if main_specific is None:
                continue
            return f"{_ip_rule(rule)} (main has {main_specific})", "main"
        return _ip_rule(rule), "main" if rule.table == MAIN_TABLE else str(rule.table)
    return MAIN_RULE, "main"


def explain(
    config: Config,
    links: Sequence[ResolvedLink],
    available: Availability,
    states: Mapping[str, str],
    flow: Flow,
    main_specific: str | None = None,
) -> Explanation:
    """Which link a new connection `flow` takes now and why. `states` is each link's health
    state (for the reasons), `available` which links take new connections, `main_specific`
    the main table's most specific non-default route to the destination, if any."""
    family = flow.family
    marks = MarkSpace(config.mark_mask)
    by_name = {link.name: link for link in links}
    routable = [link for link in links if link.routable]
    ip_rules = [*routing_rules(routable), *steering_rules(config, routable)]
    reasons: list[str] = []

    def routed(shares: Sequence[tuple[str | None, int]], mark_of: int | None = None) -> Explanation:
        total = sum(weight for _, weight in shares)
        routes = []
        for name, weight in shares:
            mark = by_name[name].mark if name else (mark_of or 0)
            rule, table = _route(mark, flow, ip_rules, main_specific)
            routes.append(Route(name, weight / total, mark, rule, table))
        return Explanation(tuple(reasons), tuple(routes))

    for service_name, service in config.services.items():
        if flow.dst in service.listen and flow.dport in service.ports:
            reasons.append(f"{flow.dst}:{flow.dport} is service {service_name}: DNAT to one "
                           "of its live backends (multiwan status), routed from there")  # fmt: skip
    uplink = next((link for link in links if flow.iif and link.interface == flow.iif), None)
    if uplink is not None:
        reasons.append(f"arrives on {uplink.interface}, link {uplink.name}'s interface: "
                       "marked for it, so its replies leave the way it came")  # fmt: skip
        return routed([(uplink.name, 1)])
    if not config.links or config.default_policy is None:
        reasons.append("no links: multiwan routes nothing")
        return Explanation(tuple(reasons), ())
    pinned = unique_sources(routable).get(flow.src) if flow.iif is None else None
    steered = any(r.via in config.links and r.dst and rule_matches(r, flow) for r in config.rules)
    if pinned is not None and not steered:
        reasons.append(f"from {flow.src}, link {pinned.name}'s own address: a socket of this "
                       "router bound to it is pinned to that link before any rule")  # fmt: skip
        return routed([(pinned.name, 1)])
    if flow.iif is None:
        reasons.append("no --iif: rules that name an input interface are skipped")
    index, rule = next(
        ((i, r) for i, r in enumerate(config.rules) if rule_matches(r, flow)), (None, None)
    )
    if rule is not None and index is not None:
        via = rule.via
        reasons.append(f"{_label(index, rule)} matches first: via {via}")
    else:
        via = config.default_policy
        reasons.append(f"no rule matches: the default policy {via}")
    if via == RESERVED_VIA:
        reasons.append("main: the normal routing table decides (bypass mark)")
        return routed([(None, 1)], marks.bypass)

    choice = _follow(config, links, available, states, family, via, reasons)
    if choice.shares:
        return routed(choice.shares)
    resort = choice.last_resort
    if resort == "main":
        reasons.append("no member is live: last resort main (marked so it moves back later)")
        return routed([(None, 1)], marks.last_resort)
    action = "rejected" if resort == "unreachable" else "dropped"
    reasons.append(f"no member is live: last resort {resort}, the connection is {action}")
    return Explanation(tuple(reasons), ())


def _follow(
    config: Config,
    links: Sequence[ResolvedLink],
    available: Availability,
    states: Mapping[str, str],
    family: Family,
    via: str,
    reasons: list[str],
) -> Choice:
    """The choice of policy or link `via` for `family`, following last resorts that name
    another policy (a pinned link that is down falls to the default policy), with reasons."""
    by_name = {link.name: link for link in links}
    choices = choices_for(config, list(links), available, family)
    able = {link.name for link in links if link.enabled and link.addressing(family) is not None}
    usable = available.within(able)
    chain = policy_chain(via, family) if via in config.policies else pin_chain(via, family)
    seen: set[str] = set()
    while True:
        choice = choices[chain]
        state = states.get(via, "unknown")
        if via in config.policies:
            strategy = config.policies[via].strategy
            reasons.append(f"policy {via} ({strategy}) for IPv{family}:")
            reasons += _member_reasons(config, via, choice, by_name, usable, states, family)
        elif choice.shares:
            reasons.append(f"link {via} is {state}: it takes it")
        else:
            reasons.append(f"link {via} takes no new connections ({state}): the default decides")
        resort = choice.last_resort
        if choice.shares or not resort.startswith("policy:") or chain in seen:
            return choice
        seen.add(chain)
        via = resort.removeprefix("policy:")
        chain = policy_chain(via, family)
