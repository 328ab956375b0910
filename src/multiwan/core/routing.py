"""Per-link routing tables, the `ip rule`s that select them, and the sysctls they need.

Each link gets its own table with its connected subnets and its default route, so links that
share a subnet and a gateway IP (several modems at 192.168.1.1) stay apart: routes name the
device, and a packet reaches a table by its mark, its source address or its bound device.
"""

from collections import Counter
from collections.abc import Iterable
from typing import Literal

from multiwan.core.links import Addressing, ResolvedLink
from multiwan.core.model import Family, Route, Rule, Sysctl
from multiwan.core.ownership import (
    MARK_MASK,
    PRIO_FWMARK,
    PRIO_MAIN_SPECIFIC,
    PRIO_OIF,
    PRIO_SOURCE,
)

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


def routing_rules(links: Iterable[ResolvedLink]) -> set[Rule]:
    """Rules for every link; a source address shared by several links gets no `from` rule."""
    links = list(links)
    sources = Counter(addr.source for link in links for _, addr in _families(link))
    rules: set[Rule] = set()
    for link in links:
        for family, addr in _families(link):
            host = 32 if family == 4 else 128
            rules.add(Rule(PRIO_MAIN_SPECIFIC, family, MAIN_TABLE, suppress_prefixlength=0))
            rules.add(Rule(PRIO_FWMARK, family, link.table, fwmark=link.mark, fwmask=MARK_MASK))
            rules.add(Rule(PRIO_OIF, family, link.table, oif=link.interface))
            if sources[addr.source] == 1:
                rules.add(Rule(PRIO_SOURCE, family, link.table, src=f"{addr.source}/{host}"))
    return rules


def link_sysctls(links: Iterable[ResolvedLink]) -> set[Sysctl]:
    """Loose reverse-path filtering on uplinks; ARP answered per device on shared subnets.

    Strict rp_filter drops replies that arrive on a link the main table would not use, and
    modems on one subnet would answer ARP for each other's address without arp_ignore.
    """
    uplinks = [(link.interface, link.v4) for link in links if link.v4 is not None]
    subnet_users = Counter(subnet for _, v4 in uplinks for subnet in v4.subnets)
    sysctls: set[Sysctl] = set()
    for interface, v4 in uplinks:
        conf = f"net/ipv4/conf/{interface}"
        sysctls.add(Sysctl(f"{conf}/rp_filter", "2"))
        if any(subnet_users[s] > 1 for s in v4.subnets):
            sysctls.add(Sysctl(f"{conf}/arp_ignore", "1"))
            sysctls.add(Sysctl(f"{conf}/arp_announce", "2"))
    return sysctls
