"""Kernel network events (links, addresses, routes, rules) as multiwan's own values.

The daemon acts on these within milliseconds: an interface that vanishes or loses carrier is
taken out of the balance without waiting for probes to fail, and routes the kernel deleted
(an interface taken down and up loses them from every table) are put back.
"""

import errno
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
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


KernelEvent = InterfaceState | AddressingChanged | Resync


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
    if event in ("RTM_NEWROUTE", "RTM_DELROUTE"):
        return AddressingChanged(
            event.removeprefix("RTM_").lower(),
            ifindex=msg.get_attr("RTA_OIF"),
            table=msg.get_attr("RTA_TABLE") or msg.get("table"),
        )
    return None


def interface_state(name: str) -> InterfaceState:
    """The interface's presence, admin state and carrier now (sysfs of this namespace), as
    the event that would have said so: a resync reads them instead of trusting events."""
    base = Path("/sys/class/net") / name
    try:
        flags = int((base / "flags").read_text(), 16)
    except (OSError, ValueError):
        return InterfaceState(name, present=False)
    try:
        carrier = (base / "carrier").read_text().strip() == "1"
    except OSError:  # EINVAL while the interface is administratively down
        carrier = False
    return InterfaceState(name, True, admin_up=bool(flags & IFF_UP), carrier=carrier)


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
