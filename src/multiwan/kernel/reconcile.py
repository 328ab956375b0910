"""Read what multiwan owns in the kernel, and execute a Plan with rollback.

The only place that changes the kernel. Order: sysctls, routes, rules, then nft (the one
step that moves traffic, and atomic on its own). If any step fails, the netlink and sysctl
changes already made are undone and nft was never touched, so the previous state stands.
"""

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from multiwan.core.links import InterfaceFacts
from multiwan.core.model import ActualState, Family, NftDigests, Sysctl
from multiwan.core.nft import DYNAMIC_TAG, STATIC_TAG, TABLE, add_elements_script
from multiwan.core.plan import Plan, SysctlChange
from multiwan.kernel import netlink
from multiwan.kernel.errors import KernelError
from multiwan.kernel.events import NeighbourChanged
from multiwan.kernel.journal import SysctlJournal
from multiwan.kernel.nftables import Nftables
from multiwan.kernel.sysctl import read_sysctl, write_sysctl

log = logging.getLogger(__name__)


class ApplyError(Exception):
    """Applying failed; the message says which step, and whether rollback restored all.
    `table` is the routing table of the route or rule the kernel refused (None when the
    failure belongs to no one link), so a caller can leave that link out and go on."""

    def __init__(self, message: str, table: int | None = None) -> None:
        super().__init__(message)
        self.table = table


def nft_digests(listing: list[dict[str, Any]] | None) -> NftDigests | None:
    """Digests of the loaded table, from the comments multiwan put on its rules."""
    if listing is None:
        return None
    static, dynamic = "", {}
    for item in listing:
        rule = item.get("rule")
        if not rule:
            continue
        comment = rule.get("comment", "")
        if rule["chain"] == "decide" and comment.startswith(STATIC_TAG):
            static = comment.removeprefix(STATIC_TAG)
        elif comment.startswith(DYNAMIC_TAG):
            dynamic[rule["chain"]] = comment.removeprefix(DYNAMIC_TAG)
    return NftDigests(static, dynamic)


class Kernel:
    """The current network namespace as far as multiwan owns it."""

    def __init__(self, state_dir: Path) -> None:
        self.nft = Nftables()
        self.ipr = netlink.open_netlink()
        self.journal = SysctlJournal(state_dir)

    def close(self) -> None:
        self.ipr.close()

    def interface_facts(self, interfaces: Iterable[str]) -> dict[str, InterfaceFacts]:
        """Gateway, address and subnets of each interface, for links that omit them."""
        return netlink.interfaces_facts(self.ipr, interfaces)

    def neighbours(self) -> list[NeighbourChanged]:
        """The hosts in the neighbour table now (LAN clients for least-loaded pools)."""
        return netlink.read_neighbours(self.ipr)

    def local_addresses(self, uplinks: Iterable[str]) -> dict[Family, str]:
        """The router's first global address per family outside its uplinks."""
        return netlink.local_addresses(self.ipr, uplinks)

    def read_actual(self, sysctl_keys: Iterable[str]) -> ActualState:
        """Everything multiwan owns now, plus the current value of the given sysctls."""
        values = {key: read_sysctl(key) for key in sysctl_keys}
        return ActualState(
            nft=nft_digests(self.nft.list_json(f"table {TABLE}")),
            routes=netlink.read_routes(self.ipr),
            rules=netlink.read_rules(self.ipr),
            sysctls=frozenset(Sysctl(k, v) for k, v in values.items() if v is not None),
        )

    def execute(self, plan: Plan) -> None:
        """Apply `plan`; on failure undo what was done and raise ApplyError."""
        done: list[tuple[str, Any]] = []
        self.journal.record({c.key: c.old for c in plan.sysctls if c.old is not None})
        table: int | None = None  # of the route or rule being written
        try:
            for change in plan.sysctls:
                write_sysctl(change.key, change.new)
                done.append(("sysctl", change))
            for route in plan.route_deletes:
                table = route.table
                if not plan.replaced(route):
                    netlink.delete_route(self.ipr, route)
                done.append(("route-", route))
            for route in plan.route_adds:
                table = route.table
                netlink.add_route(self.ipr, route)
                done.append(("route+", route))
            for rule in plan.rule_adds:
                table = rule.table
                netlink.add_rule(self.ipr, rule)
                done.append(("rule+", rule))
            table = None
            if plan.route_adds or plan.rule_adds:
                netlink.verify_written(self.ipr, plan.route_adds, plan.rule_adds)
            for rule in plan.rule_deletes:
                table = rule.table
                netlink.delete_rule(self.ipr, rule)
                done.append(("rule-", rule))
            table = None
            if plan.nft_script:
                self.nft.run(plan.nft_script + self._kept_elements(plan.nft_kept_sets))
        except KernelError as exc:
            undone = self._undo(done)
            state = "previous state restored" if undone else "ROLLBACK INCOMPLETE, see log"
            raise ApplyError(f"{exc} ({state}; nothing else was changed)", table) from exc

    def _kept_elements(self, sets: Iterable[str]) -> str:
        """Commands that put back what other programs put in `sets` (dnsmasq's `nftset=`):
        read now, applied in the same transaction that replaces the table."""
        script = ""
        for name in sets:
            listing = self.nft.list_json(f"set {TABLE} {name}") or []
            for item in listing:
                elements = item.get("set", {}).get("elem", [])
                script += add_elements_script(name, (e for e in elements if isinstance(e, str)))
        return script

    def _undo(self, done: list[tuple[str, Any]]) -> bool:
        """Revert steps in reverse order; returns False if any revert failed."""
        complete = True
        for kind, item in reversed(done):
            try:
                if kind == "sysctl" and isinstance(item, SysctlChange) and item.old is not None:
                    write_sysctl(item.key, item.old)
                elif kind == "route-":
                    netlink.add_route(self.ipr, item)
                elif kind == "route+":
                    netlink.delete_route(self.ipr, item)
                elif kind == "rule+":
                    netlink.delete_rule(self.ipr, item)
                elif kind == "rule-":
                    netlink.add_rule(self.ipr, item)
            except KernelError as exc:
                complete = False
                log.error("rollback of %s %s failed: %s", kind, item, exc)
        return complete
