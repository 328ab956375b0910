"""Per-link routing tables, the `ip rule`s that select them, and the sysctls they need.

Each link gets its own table with its connected subnets and its default route, so links that
share a subnet and a gateway IP (several modems at 192.168.1.1) stay apart: routes name the
device, and a packet reaches a table by its mark, its source address or its bound device.
"""

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Literal

from multiwan.config.schema import Config
from multiwan.core.links import Addressing, ResolvedLink
from multiwan.core.model import Family, Nexthop, Route, Rule, Sysctl
from multiwan.core.ownership import (
    MAX_LINKS,
    PRIO_FALLBACK,
    PRIO_FWMARK,
    PRIO_MAIN_SPECIFIC,
    PRIO_OIF,
    PRIO_SOURCE,
    PRIO_STEER,
    TABLE_FALLBACK,
    MarkSpace,
    link_table,
)
from multiwan.core.strategy import Choice

MAIN_TABLE = 254


def _families(link: ResolvedLink) -> list[tuple[Family, Addressing]]:
    pairs: list[tuple[Family, Addressing | None]] = [(4, link.v4), (6, link.v6)]
    return [(family, addr) for family, addr in pairs if addr is not None]


def link_routes(link: ResolvedLink) -> set[Route]:
    """The link's table: its connected subnets, then the default route through it."""
    routes = set()
    for family, addr in _families(link):
        # IPv6 has no route scopes: the kernel stores (and reports) every route as universe.
        connected: Literal["universe", "link"] = "link" if family == 4 else "universe"
        for subnet in addr.subnets:
            routes.add(
                Route(link.table, family, subnet, link.interface, None, addr.source, connected)
            )
        scope: Literal["universe", "link"] = "universe" if addr.gateway or family == 6 else "link"
        routes.add(Route(link.table, family, "default", link.interface, addr.gateway, None, scope))
    return routes


def unique_sources(links: Iterable[ResolvedLink]) -> dict[str, ResolvedLink]:
    """Addresses that belong to exactly one link: traffic from them can only mean that link
    (identical modems sharing one address cannot be told apart by it)."""
    links = list(links)
    count = Counter(addr.source for link in links for _, addr in _families(link))
    return {
        addr.source: link
        for link in links
        for _, addr in _families(link)
        if count[addr.source] == 1
    }


def routing_rules(links: Iterable[ResolvedLink]) -> set[Rule]:
    """Rules for every link; a source address shared by several links gets no `from` rule.
    Each family with a link also gets the fallback rule for unmarked lookups."""
    links = list(links)
    unique = unique_sources(links)
    rules: set[Rule] = set()
    for link in links:
        for family, addr in _families(link):
            host = 32 if family == 4 else 128
            rules.add(Rule(PRIO_MAIN_SPECIFIC, family, MAIN_TABLE, suppress_prefixlength=0))
            mask = link.marks.mask
            rules.add(Rule(PRIO_FALLBACK, family, TABLE_FALLBACK, fwmark=0, fwmask=mask))
            rules.add(Rule(PRIO_FWMARK, family, link.table, fwmark=link.mark, fwmask=mask))
            rules.add(Rule(PRIO_OIF, family, link.table, oif=link.interface))
            if addr.source in unique:
                rules.add(Rule(PRIO_SOURCE, family, link.table, src=f"{addr.source}/{host}"))
    return rules


def steering_rules(config: Config, links: Iterable[ResolvedLink]) -> set[Rule]:
    """`to <dst> fwmark <link>` rules for config rules that send a destination inside some
    uplink's connected subnet to a link: without them main's connected route answers first
    (PRIO_MAIN_SPECIFIC) and every modem at 192.168.1.1 is reached through the first one.
    Only the overlap with connected subnets gets a rule: replies towards the LAN carry the
    same mark and must keep following main."""
    links = list(links)
    by_name = {link.name: link for link in links}
    connected = [
        (family, ipaddress.ip_network(subnet))
        for link in links
        for family, addr in _families(link)
        for subnet in addr.subnets
    ]
    rules: set[Rule] = set()
    for rule in config.rules:
        via = by_name.get(rule.via)
        if via is None:
            continue
        for cidr in rule.dst:
            wanted = ipaddress.ip_network(cidr)
            for family, subnet in connected:
                if wanted.version != family or via.addressing(family) is None:
                    continue
                if wanted.overlaps(subnet):
                    narrow = wanted if wanted.prefixlen >= subnet.prefixlen else subnet
                    rules.add(
                        Rule(PRIO_STEER, family, via.table, fwmark=via.mark, fwmask=via.marks.mask,
                             dst=str(narrow))
                    )  # fmt: skip
    return rules


def local_sources(
    config: Config, found: Mapping[Family, str], links: Iterable[ResolvedLink]
) -> dict[Family, str]:
    """The source each family's unbound local sockets get from the fallback table: the
    configured or discovered non-uplink address, only where every link of that family
    masquerades it (else it would leave un-translated)."""
    if config.local_source == "none":
        return {}
    wanted: dict[Family, str] = dict(found)
    if config.local_source != "auto":
        family: Family = 6 if ":" in config.local_source else 4
        wanted = {family: config.local_source}
    links = list(links)
    return {
        family: address
        for family, address in wanted.items()
        if all(link.masquerades(family) for link in links if link.addressing(family))
    }


def default_routes(
    table: int,
    links: Mapping[str, ResolvedLink],
    choice: Choice,
    family: Family,
    src: str | None = None,
) -> set[Route]:
    """A default route in `table` over the links of `choice` that route `family` (weighted
    multipath when several, none when there is none), with preferred source `src`."""
    hops = [
        (links[name], weight, addr)
        for name, weight in choice.shares
        if (addr := links[name].addressing(family)) is not None
    ]
    if len(hops) == 1:
        link, _, addr = hops[0]
        scope: Literal["universe", "link"] = "universe" if addr.gateway or family == 6 else "link"
        return {Route(table, family, "default", link.interface, addr.gateway, src, scope)}
    if hops:
        nexthops = tuple(Nexthop(link.interface, addr.gateway, w) for link, w, addr in hops)
        return {Route(table, family, "default", "", src=src, nexthops=nexthops)}
    return set()


def fallback_routes(
    links: Mapping[str, ResolvedLink],
    choices: Mapping[Family, Choice],
    local: Mapping[Family, str],
) -> set[Route]:
    """The fallback table: per family, a default route over the links the default policy
    uses now (weighted multipath when several), none when it has no live link (main then
    answers). It decides the source address of the router's own unbound sockets: the local
    source where there is one (their connections are then balanced like forwarded ones),
    else the address of the link it picks."""
    routes: set[Route] = set()
    for family, choice in choices.items():
        routes |= default_routes(TABLE_FALLBACK, links, choice, family, local.get(family))
    return routes


def policy_indexes(config: Config) -> dict[str, int]:
    """Each policy's index, the highest ones no link uses. A `route` policy's connections
    carry that index's mark, which selects that index's table, where a multipath route over
    the policy's live links lets the kernel hash each flow to one of them. Every policy has
    one, so `multiwan mode route` needs no new mark in the nft table."""
    taken = set(config.link_ids().values())
    free = (index for index in range(MAX_LINKS, 0, -1) if index not in taken)
    return {name: next(free) for name in config.policies}


def route_policies(config: Config) -> dict[str, int]:
    """The index of each policy whose strategy is `route` now."""
    indexes = policy_indexes(config)
    return {
        name: indexes[name]
        for name, policy in config.policies.items()
        if policy.strategy == "route"
    }


def route_policy_rules(config: Config) -> set[Rule]:
    """`fwmark <policy mark> lookup <policy table>` for each route policy and family."""
    marks = MarkSpace(config.mark_mask)
    return {
        Rule(PRIO_FWMARK, family, link_table(index), fwmark=marks.link(index), fwmask=marks.mask)
        for index in route_policies(config).values()
        for family in (4, 6)
    }


#: fib_multipath_hash_policy: 0 hashes addresses, 1 addresses and ports.
HASH_POLICIES = {"l3": "0", "l4": "1"}


def route_sysctls(config: Config) -> set[Sysctl]:
    """The namespace's multipath hash policy, when a route policy relies on it (the schema
    makes every route policy agree)."""
    routed = [p for p in config.policies.values() if p.strategy == "route"]
    if not routed:
        return set()
    value = HASH_POLICIES[routed[0].hash_policy]
    return {Sysctl(f"net/{ip}/fib_multipath_hash_policy", value) for ip in ("ipv4", "ipv6")}


def link_sysctls(links: Iterable[ResolvedLink]) -> set[Sysctl]:
    """Mark-aware loose reverse-path filtering on uplinks; ARP answered per device on shared
    subnets.

    The rp_filter check looks the source up WITHOUT the packet's mark unless src_valid_mark
    is set: with no default route in main (gateways only in multiwan's tables) even loose mode
    finds no route and drops every reply. With it, the reply's restored mark selects the
    link's table, which routes back out of the same device. Strict rp_filter would drop
    replies arriving on a link main would not use; modems on one subnet would answer ARP for
    each other's address without arp_ignore. See docs/design.md "Reverse-path filtering".
    """
    uplinks = [(link.interface, link.v4) for link in links if link.v4 is not None]
    subnet_users = Counter(subnet for _, v4 in uplinks for subnet in v4.subnets)
    sysctls: set[Sysctl] = set()
    for interface, v4 in uplinks:
        conf = f"net/ipv4/conf/{interface}"
        sysctls.add(Sysctl(f"{conf}/rp_filter", "2"))
        sysctls.add(Sysctl(f"{conf}/src_valid_mark", "1"))
        if any(subnet_users[s] > 1 for s in v4.subnets):
            sysctls.add(Sysctl(f"{conf}/arp_ignore", "1"))
            sysctls.add(Sysctl(f"{conf}/arp_announce", "2"))
    return sysctls
