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
    """Addresses or routes changed somewhere: re-read facts and reconcile."""

    what: str


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
    if event in ("RTM_NEWADDR", "RTM_DELADDR", "RTM_NEWROUTE", "RTM_DELROUTE"):
        return AddressingChanged(event.removeprefix("RTM_").lower())
    return None


async def kernel_events() -> AsyncIterator[KernelEvent]:
    """Yield events of the current network namespace forever."""
    async with AsyncIPRoute() as ipr:
        await ipr.bind()
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
