"""Client pools (`least-loaded`): each LAN client is given one link, the one with the fewest
clients relative to its weight, and keeps it: every new connection of that client leaves
by that link (one public address per client). A client whose link dies is re-homed the
same way; with `return_home` it goes back to its first link when that link is live again.

Pure and deterministic: the same clients (in order of first sight), live links and
previous assignment give the same answer, so a restart that reloads the saved assignment
changes nothing.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction


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
