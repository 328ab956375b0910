"""Client pools (`least-loaded`): each LAN client is given one link, the one with the fewest
clients relative to its weight, and keeps it: every new connection of that client leaves
by that link (one public address per client). A client whose link dies is re-homed the
same way; with `return_home` it goes back to its first link when that link is live again.

Pure and deterministic: the same clients (in order of first sight), live links and
previous assignment give the same answer, so a restart that reloads the saved assignment
changes nothing.
"""

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from multiwan.core.model import Family

#: Per least-loaded policy, the link of each seated client address.
Seated = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class Seat:
    """A client's link now, and its home: the link it was given first."""

    link: str
    home: str


def assign(
    clients: Sequence[str],
    shares: Sequence[tuple[str, int]],
    previous: Mapping[str, Seat],
    return_home: bool,
) -> dict[str, Seat]:
    """Seat every client on one of `shares` (live links with their weights, in policy
    order). Clients stay where they are while their link is live; the others take, one at a
    time in `clients` order, the link where one more client weighs least: (count+1)/weight,
    ties to the earlier link. No live link: no seats (the policy's last resort applies)."""
    weights = dict(shares)
    if not weights:
        return {}
    seats: dict[str, Seat] = {}
    for client in clients:
        seat = previous.get(client)
        if seat is None:
            continue
        if return_home and seat.home in weights:
            seats[client] = Seat(seat.home, seat.home)
        elif seat.link in weights:
            seats[client] = seat
    load = dict.fromkeys(weights, 0)
    for seat in seats.values():
        load[seat.link] += 1
    order = {link: index for index, (link, _) in enumerate(shares)}
    for client in clients:
        if client in seats:
            continue
        link = min(weights, key=lambda name: (Fraction(load[name] + 1, weights[name]), order[name]))
        load[link] += 1
        old = previous.get(client)
        seats[client] = Seat(link, old.home if old else link)
    return seats


def per_link(seats: Mapping[str, Seat]) -> dict[str, list[str]]:
    """The clients of each link, for `status`."""
    out: dict[str, list[str]] = {}
    for client, seat in sorted(seats.items()):
        out.setdefault(seat.link, []).append(client)
    return out


def seats_of(
    seated: Mapping[str, str], shares: Sequence[tuple[str, int]], family: Family
) -> tuple[tuple[str, str], ...]:
    """The seats a policy chain of `family` holds: addresses of that family on live links."""
    live = {link for link, _ in shares}
    return tuple(
        sorted(
            (address, link)
            for address, link in seated.items()
            if link in live and ipaddress.ip_address(address).version == family
        )
    )


def seat_rule(
    seats: Sequence[tuple[str, str]],
    family: Family,
    newcomers: str,
    target: Callable[[str], str],
) -> str:
    """One rule: `ip saddr vmap` over the whole address space, each seated address to its
    link's `target` chain and every range between them to the `newcomers` chain (a vmap
    has no default, so the gaps are listed; 2n+1 elements for n clients)."""
    if not seats:
        return f"goto {newcomers}"
    text: type[ipaddress.IPv4Address | ipaddress.IPv6Address]
    text, bits = (ipaddress.IPv4Address, 32) if family == 4 else (ipaddress.IPv6Address, 128)
    top = (1 << bits) - 1
    elements, low = [], 0
    for address, link in sorted(seats, key=lambda seat: int(text(seat[0]))):
        value = int(text(address))
        if value > low:
            gap = str(text(low)) if value - 1 == low else f"{text(low)}-{text(value - 1)}"
            elements.append(f"{gap} : goto {newcomers}")
        elements.append(f"{text(value)} : goto {target(link)}")
        low = value + 1
    if low <= top:
        gap = str(text(low)) if low == top else f"{text(low)}-{text(top)}"
        elements.append(f"{gap} : goto {newcomers}")
    keyword = "ip" if family == 4 else "ip6"
    return f"{keyword} saddr vmap {{ {', '.join(elements)} }}"
