"""Links as the compiler sees them: config plus what was discovered on the interface.

A config may leave gateway and source out; the kernel edge discovers them (and the connected
subnets) and hands them in as `InterfaceFacts`, so compiling stays a pure function.
"""

from collections.abc import Mapping, Set
from dataclasses import dataclass

from multiwan.config.schema import Config
from multiwan.core.ownership import DEFAULT_MARKS, MarkSpace, link_table


@dataclass(frozen=True)
class FamilyFacts:
    """One address family of an interface as discovered: gateway, address, subnets."""

    gateway: str | None = None
    source: str | None = None
    subnets: tuple[str, ...] = ()


@dataclass(frozen=True)
class InterfaceFacts:
    """What the kernel says about a link's interface right now."""

    present: bool
    v4: FamilyFacts = FamilyFacts()
    v6: FamilyFacts = FamilyFacts()
    #: Kernel index: a re-created interface has a new one (sockets bound to the old are dead).
    index: int | None = None
    #: Administratively up: the kernel refuses routes through a down device ("Network is
    #: down"), so such a link is not routable until it comes up.
    admin_up: bool = True
    carrier: bool = True


@dataclass(frozen=True)
class Addressing:
    """A routable family of a link: where to send and from which address."""

    gateway: str | None  # None: point-to-point, the device itself is the next hop
    source: str
    subnets: tuple[str, ...]


@dataclass(frozen=True)
class ResolvedLink:
    """A link with its index, routing table, mark and the addressing it can route."""

    name: str
    index: int
    interface: str
    weight: int
    priority: int
    masquerade: bool
    enabled: bool
    v4: Addressing | None
    v6: Addressing | None
    ifindex: int | None = None
    #: IPv6 is masqueraded only where the config asks (IPv6 usually routes a delegated
    #: prefix); IPv4 follows `masquerade`.
    masquerade6: bool = False
    marks: MarkSpace = DEFAULT_MARKS

    @property
    def table(self) -> int:
        return link_table(self.index)

    @property
    def mark(self) -> int:
        return self.marks.link(self.index)

    @property
    def routable(self) -> bool:
        return self.v4 is not None or self.v6 is not None

    def addressing(self, family: int) -> Addressing | None:
        return self.v4 if family == 4 else self.v6

    def masquerades(self, family: int) -> bool:
        return self.masquerade if family == 4 else self.masquerade6 and self.v6 is not None


def _addressing(
    gateway: str | None, source: str | None, found: FamilyFacts, point_to_point: bool
) -> Addressing | None:
    source = source or found.source
    gateway = gateway or found.gateway
    if source is None or (gateway is None and not point_to_point):
        return None
    return Addressing(gateway=gateway, source=source, subnets=found.subnets)


def resolve_links(
    config: Config, facts: Mapping[str, InterfaceFacts], unroutable: Set[str] = frozenset()
) -> list[ResolvedLink]:
    """Combine config and discovered facts; a link that cannot be routed gets v4=v6=None:
    its interface is absent or administratively down, or it is in `unroutable` (the kernel
    refused its routes, so it must not block the others).

    An interface with a subnet but no gateway anywhere is treated as not routable rather than
    point-to-point, except when it has no subnet at all (tun devices, PPP): there the device
    is the next hop.
    """
    ids = config.link_ids()
    resolved = []
    for name, link in config.links.items():
        found = facts.get(link.interface, InterfaceFacts(present=False))
        v4 = v6 = None
        if found.present and found.admin_up and name not in unroutable:
            v4 = _addressing(link.gateway, link.source, found.v4, not found.v4.subnets)
            if link.ipv6:
                v6 = _addressing(link.gateway6, link.source6, found.v6, not found.v6.subnets)
        resolved.append(
            ResolvedLink(
                name=name,
                index=ids[name],
                interface=link.interface,
                weight=link.fixed_weight,
                priority=link.priority,
                masquerade=link.masquerade,
                enabled=link.enabled,
                v4=v4,
                v6=v6,
                ifindex=found.index,
                masquerade6=link.masquerade6,
                marks=MarkSpace(config.mark_mask),
            )
        )
    return resolved
