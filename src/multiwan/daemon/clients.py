"""The LAN clients of least-loaded policies and their seats: what the engine learns from the
neighbour table, as plain state with no I/O (core/pools.py seats them)."""

import ipaddress
from collections.abc import Mapping, Set

from multiwan.config.schema import Config
from multiwan.core.links import ResolvedLink
from multiwan.core.pools import Seat, Seated, assign, per_link
from multiwan.core.strategy import Availability, choose
from multiwan.kernel.events import NeighbourChanged


class ClientPools:
    def __init__(self) -> None:
        #: LAN hosts by link-layer address (their address when they have none): the
        #: addresses of each, in order of first sight.
        self.clients: dict[str, set[str]] = {}
        self.owner: dict[str, str] = {}  # address -> client: neighbour events come often
        #: least-loaded policy -> client -> seat; seats of absent clients are kept for when
        #: they return.
        self.seats: dict[str, dict[str, Seat]] = {}

    def resume(self, seats: Mapping[str, Mapping[str, Seat]]) -> None:
        """The seats a previous run saved."""
        self.seats = {policy: dict(clients) for policy, clients in seats.items()}

    def learn(self, event: NeighbourChanged, uplinks: Set[int]) -> bool:
        """Learn or forget one LAN host's address; whether the clients changed. Hosts on the
        uplinks (gateways, modems) and link-local or multicast addresses are no clients."""
        address = ipaddress.ip_address(event.address)
        if event.ifindex in uplinks or address.is_link_local or address.is_multicast:
            return False
        key = event.lladdr or event.address
        owner = self.owner.get(event.address)
        if event.present:
            if owner == key:
                return False
            if owner is not None:
                self._forget(owner, event.address)
            self.clients.setdefault(key, set()).add(event.address)
            self.owner[event.address] = key
            return True
        if owner is None:
            return False
        self._forget(owner, event.address)
        return True

    def _forget(self, key: str, address: str) -> None:
        self.clients[key].discard(address)
        del self.owner[address]
        if not self.clients[key]:
            del self.clients[key]

    def refresh(self, hosts: tuple[NeighbourChanged, ...], uplinks: Set[int]) -> None:
        """The whole neighbour table (every reconcile): clients it no longer holds are gone."""
        listed = {host.address for host in hosts}
        for key, addresses in list(self.clients.items()):
            for address in addresses - listed:
                self._forget(key, address)
        for host in hosts:
            self.learn(host, uplinks)

    def reseat(
        self, config: Config, links: Mapping[str, ResolvedLink], usable: Availability
    ) -> list[str]:
        """Seat the present clients of every least-loaded policy on its live links; what
        moved, one line per policy."""
        moves = []
        for name, policy in config.policies.items():
            if policy.strategy != "least-loaded":
                continue
            if not set(links) >= {m.link for m in policy.members()}:
                continue  # links not resolved yet (before the first reconcile)
            previous = self.seats.get(name, {})
            shares = choose(policy, links, usable).shares
            seats = assign(list(self.clients), shares, previous, policy.return_home)
            moved = sorted(c for c, s in seats.items() if previous.get(c) != s)
            if moved:
                moves.append(f"policy {name}: seated " +
                             ", ".join(f"{c} on {seats[c].link}" for c in moved))  # fmt: skip
            self.seats[name] = {**previous, **seats}
        return moves

    def saved(self) -> dict[str, dict[str, Seat]]:
        return {policy: dict(seats) for policy, seats in self.seats.items()}

    def _present(self, seats: Mapping[str, Seat]) -> dict[str, Seat]:
        return {client: seat for client, seat in seats.items() if client in self.clients}

    def seated(self, config: Config) -> Seated:
        """Per least-loaded policy, the link of each present client address."""
        return {
            policy: {
                address: seat.link
                for client, seat in self._present(seats).items()
                for address in self.clients[client]
            }
            for policy, seats in self.seats.items()
            if policy in config.policies
        }

    def view(self) -> dict[str, dict[str, list[str]]]:
        """Per least-loaded policy, the addresses of the clients on each link (status)."""
        return {
            policy: {
                link: sorted(a for client in clients for a in self.clients[client])
                for link, clients in per_link(self._present(seats)).items()
            }
            for policy, seats in self.seats.items()
        }
