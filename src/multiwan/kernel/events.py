"""Kernel network events (links, addresses, routes, rules) as multiwan's own values.

The daemon acts on these within milliseconds: an interface that vanishes or loses carrier is
taken out of the balance without waiting for probes to fail, and routes the kernel deleted
(an interface taken down and up loses them from every table) are put back.
"""

import errno
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from multiwan.core.ownership import owns_table

MAIN_TABLE = 254
RT_SCOPE_LINK = 253
IFF_UP = 0x1
IFF_LOWER_UP = 0x10000


@dataclass(frozen=True)
class InterfaceState:
    """An interface appeared or changed (present=False: it was deleted)."""

    name: str
    present: bool
    admin_up: bool = False
    carrier: bool = False


@dataclass(frozen=True)
class AddressingChanged:
    """An address or route changed. Only some matter to multiwan (see `concerns`)."""

    what: str
    ifindex: int | None = None  # the interface of an address or route
    table: int | None = None  # the table of a route
    link_scope: bool = False  # an address of scope link (IPv6 fe80::): discovery skips them

    def concerns(self, ifindexes: set[int]) -> bool:
        """Worth a reconcile: a global address on a link's interface, or a route in the main
        table (default gateways) or in multiwan's tables (the kernel deletes them)."""
        if self.what.endswith("addr"):
            return not self.link_scope and self.ifindex in ifindexes
        return self.table == MAIN_TABLE or (self.table is not None and owns_table(self.table))


@dataclass(frozen=True)
class Resync:
    """Events were lost (ENOBUFS): everything must be re-read."""


@dataclass(frozen=True)
class NeighbourChanged:
    """A host on a directly connected network is known (present) or forgotten: the router's
    neighbour table, where LAN clients show up (least-loaded pools)."""

    ifindex: int
    address: str
    lladdr: str | None  # the host's link-layer address: one client, all its addresses
    present: bool


#: Neighbour states of a host that answered (or was configured): a client, not a lookup
#: in progress (INCOMPLETE) or one that failed.
NUD_KNOWN = 0x02 | 0x04 | 0x08 | 0x10 | 0x80  # REACHABLE STALE DELAY PROBE PERMANENT

KernelEvent = InterfaceState | AddressingChanged | NeighbourChanged | Resync


def neighbour(msg: Any) -> NeighbourChanged | None:
    """A neighbour message as multiwan sees it; None for lookups that got no answer."""
    address = msg.get_attr("NDA_DST")
    present = msg.get("event") != "RTM_DELNEIGH"
    if address is None or (present and not int(msg.get("state") or 0) & NUD_KNOWN):
        return None
    return NeighbourChanged(msg.get("ifindex"), address, msg.get_attr("NDA_LLADDR"), present)


def _convert(msg: Any) -> KernelEvent | None:
    event = msg.get("event")
    if event in ("RTM_NEWLINK", "RTM_DELLINK"):
        flags = int(msg.get("flags") or 0)
        return InterfaceState(
            name=msg.get_attr("IFLA_IFNAME"),
            present=event == "RTM_NEWLINK",
            admin_up=bool(flags & IFF_UP),
            carrier=bool(flags & IFF_LOWER_UP),
        )
    if event in ("RTM_NEWADDR", "RTM_DELADDR"):
        return AddressingChanged(
            event.removeprefix("RTM_").lower(),
            ifindex=msg.get("index"),
            link_scope=msg.get("scope") == RT_SCOPE_LINK,
        )
    if event in ("RTM_NEWNEIGH", "RTM_DELNEIGH"):
        return neighbour(msg)
    if event in ("RTM_NEWROUTE", "RTM_DELROUTE"):
        return AddressingChanged(
            event.removeprefix("RTM_").lower(),
            ifindex=msg.get_attr("RTA_OIF"),
            table=msg.get_attr("RTA_TABLE") or msg.get("table"),
        )
    return None


async def kernel_events() -> AsyncIterator[KernelEvent]:
    """Yield events of the current network namespace forever. The first is a Resync, once
    subscribed: what changed before it must be read, not waited for."""
    async with AsyncIPRoute() as ipr:
        await ipr.bind()
        yield Resync()
        while True:
            try:
                async for msg in ipr.get():
                    converted = _convert(msg)
                    if converted is not None:
                        yield converted
            except (NetlinkError, OSError) as exc:
                code = exc.code if isinstance(exc, NetlinkError) else exc.errno
                if code != errno.ENOBUFS:
                    raise
                yield Resync()
