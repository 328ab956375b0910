"""multiwan's routes and rules through netlink (pyroute2), as core.model values.

The only module that speaks pyroute2's message format. pyroute2 silently ignores misspelt
keyword arguments (FIELD-NOTES), so every write is checked by reading the object back.
Everything works on the current network namespace.
"""

import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from multiwan.core.links import FamilyFacts, InterfaceFacts
from multiwan.core.model import Family, Nexthop, Route, Rule
from multiwan.core.ownership import ROUTE_PROTO, owns_rule_priority, owns_table
from multiwan.kernel.errors import KernelError
from multiwan.kernel.events import NeighbourChanged, neighbour

AF: dict[int, Family] = {socket.AF_INET: 4, socket.AF_INET6: 6}
AF_OF: dict[Family, int] = {4: socket.AF_INET, 6: socket.AF_INET6}
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
FR_ACT_TO_TBL = 1
NO_SUPPRESS = 0xFFFFFFFF
IFF_UP = 0x1
IFF_LOWER_UP = 0x10000


def open_netlink() -> IPRoute:
    """A netlink handle on the current namespace (not usable inside a running event loop)."""
    return IPRoute()


def _attr(msg: Any, name: str) -> Any:
    return msg.get_attr(name)


# Names and indexes through the C library (an ioctl in this namespace): microseconds, where
# a pyroute2 request costs milliseconds, which the daemon's fast path would feel.


def _ifname(index: int | None, cache: dict[int, str]) -> str | None:
    if index is None:
        return None
    if index not in cache:
        try:
            cache[index] = socket.if_indextoname(index)
        except OSError:
            cache[index] = f"if{index}"
    return cache[index]


def _ifindex(name: str) -> int:
    try:
        return socket.if_nametoindex(name)
    except OSError as exc:
        raise KernelError(f"interface {name!r} does not exist") from exc


def read_routes(ipr: IPRoute, families: Iterable[Family] = (4, 6)) -> frozenset[Route]:
    """Every route tagged ROUTE_PROTO in a table multiwan owns, of the given families."""
    names: dict[int, str] = {}
    routes = set()
    for family in families:
        for msg in ipr.get_routes(family=AF_OF[family], proto=ROUTE_PROTO):
            table = _attr(msg, "RTA_TABLE") or msg["table"]
            if msg["proto"] != ROUTE_PROTO or not owns_table(table):
                continue
            dst = _attr(msg, "RTA_DST")
            dst_text = f"{dst}/{msg['dst_len']}" if dst else "default"
            if dst:
                dst_text = str(ipaddress.ip_network(dst_text, strict=False))
            scope: Literal["universe", "link"] = (
                "link" if msg["scope"] == RT_SCOPE_LINK else "universe"
            )
            hops = tuple(
                Nexthop(
                    _ifname(hop["oif"], names) or "",
                    _attr(hop, "RTA_GATEWAY"),
                    hop["hops"] + 1,
                )
                for hop in _attr(msg, "RTA_MULTIPATH") or ()
            )
            routes.add(
                Route(
                    table=table,
                    family=family,
                    dst=dst_text,
                    dev=_ifname(_attr(msg, "RTA_OIF"), names) or "",
                    gateway=_attr(msg, "RTA_GATEWAY"),
                    src=_attr(msg, "RTA_PREFSRC"),
                    scope=scope,
                    nexthops=hops,
                )
            )
    return frozenset(routes)


def _route_spec(ipr: IPRoute, route: Route) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "family": AF_OF[route.family],
        "table": route.table,
        "proto": ROUTE_PROTO,
        "scope": RT_SCOPE_LINK if route.scope == "link" else RT_SCOPE_UNIVERSE,
    }
    if route.dev:
        spec["oif"] = _ifindex(route.dev)
    if route.nexthops:
        # pyroute2 takes a nexthop's weight as `hops` = weight - 1 (FIELD-NOTES).
        spec["multipath"] = [
            {"oif": _ifindex(hop.dev), "hops": hop.weight - 1}
            | ({"gateway": hop.gateway} if hop.gateway else {})
            for hop in route.nexthops
        ]
    if route.dst == "default":
        spec["dst"] = "0.0.0.0/0" if route.family == 4 else "::/0"
    else:
        spec["dst"] = route.dst
    if route.gateway:
        spec["gateway"] = route.gateway
    if route.src:
        spec["prefsrc"] = route.src
    return spec


def add_route(ipr: IPRoute, route: Route) -> None:
    """Install `route` (replacing one with the same destination in its table). Check a
    batch of writes with `verify_written`."""
    try:
        ipr.route("replace", **_route_spec(ipr, route))
    except NetlinkError as exc:
        raise KernelError(f"adding route {route.render()}: {exc.args[-1]}") from exc


def verify_written(ipr: IPRoute, routes: Iterable[Route], rules: Iterable[Rule]) -> None:
    """Read back once after a batch of writes: pyroute2 ignores misspelt arguments silently,
    so what the kernel holds must be exactly what was written (one dump, not one per write;
    only the families and object kinds written: the daemon's fast path writes one route
    of the fallback table)."""
    routes, rules = list(routes), list(rules)
    missing = []
    if routes:
        present_routes = read_routes(ipr, sorted({r.family for r in routes}))
        missing += [r.render() for r in routes if r not in present_routes]
    if rules:
        present_rules = read_rules(ipr)
        missing += [r.render() for r in rules if r not in present_rules]
    if missing:
        raise KernelError(f"not found as written when read back: {'; '.join(missing)}")


def delete_route(ipr: IPRoute, route: Route) -> None:
    """Remove `route`; a route that is already gone (or whose device is) is not an error."""
    try:
        ipr.route("del", **_route_spec(ipr, route))
    except KernelError:
        return  # the device is gone, and the kernel took its routes with it
    except NetlinkError as exc:
        if exc.code == 3:  # ESRCH: already gone
            return
        raise KernelError(f"deleting route {route.render()}: {exc.args[-1]}") from exc


def read_rules(ipr: IPRoute) -> frozenset[Rule]:
    """Every rule multiwan owns: in its priority range AND tagged with its protocol, so rules
    another program put in the same range are never read as ours (nor deleted)."""
    rules = set()
    for af, family in AF.items():
        for msg in ipr.get_rules(family=af):
            priority = _attr(msg, "FRA_PRIORITY") or 0
            if not owns_rule_priority(priority) or _attr(msg, "FRA_PROTOCOL") != ROUTE_PROTO:
                continue
            src, dst = _attr(msg, "FRA_SRC"), _attr(msg, "FRA_DST")
            suppress = _attr(msg, "FRA_SUPPRESS_PREFIXLEN")
            # The kernel omits a zero mark and reports only its mask (`fwmark 0/0xff00`).
            mask = _attr(msg, "FRA_FWMASK")
            rules.add(
                Rule(
                    priority=priority,
                    family=family,
                    table=_attr(msg, "FRA_TABLE") or msg["table"],
                    fwmark=_attr(msg, "FRA_FWMARK") or (0 if mask else None),
                    fwmask=mask or None,
                    src=f"{src}/{msg['src_len']}" if src else None,
                    oif=_attr(msg, "FRA_OIFNAME"),
                    suppress_prefixlength=(
                        None if suppress in (None, NO_SUPPRESS) else int(suppress)
                    ),
                    dst=f"{dst}/{msg['dst_len']}" if dst else None,
                )
            )
    return frozenset(rules)


def _rule_spec(rule: Rule) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "family": AF_OF[rule.family],
        "priority": rule.priority,
        "table": rule.table,
        "action": "FR_ACT_TO_TBL",
        "protocol": ROUTE_PROTO,
    }
    if rule.fwmark is not None:
        spec["fwmark"] = rule.fwmark
        spec["fwmask"] = rule.fwmask if rule.fwmask is not None else 0xFFFFFFFF
    for key, cidr in (("src", rule.src), ("dst", rule.dst)):
        if cidr:
            address, length = cidr.split("/")
            spec[key] = address
            spec[f"{key}_len"] = int(length)
    if rule.oif:
        spec["oifname"] = rule.oif
    if rule.suppress_prefixlength is not None:
        spec["suppress_prefixlen"] = rule.suppress_prefixlength
    return spec


def add_rule(ipr: IPRoute, rule: Rule) -> None:
    try:
        ipr.rule("add", **_rule_spec(rule))
    except NetlinkError as exc:
        if exc.code != 17:  # EEXIST: the same rule is there already
            raise KernelError(f"adding rule {rule.render()}: {exc.args[-1]}") from exc


def delete_rule(ipr: IPRoute, rule: Rule) -> None:
    try:
        ipr.rule("del", **_rule_spec(rule))
    except NetlinkError as exc:
        if exc.code != 2:  # ENOENT: already gone
            raise KernelError(f"deleting rule {rule.render()}: {exc.args[-1]}") from exc


@dataclass(frozen=True)
class InterfaceInfo:
    """An interface's index, state and global addresses."""

    index: int
    admin_up: bool
    carrier: bool
    addresses4: tuple[ipaddress.IPv4Interface, ...]
    addresses6: tuple[ipaddress.IPv6Interface, ...]


def interface_info(ipr: IPRoute, name: str) -> InterfaceInfo | None:
    """State and global addresses of `name`, or None if it does not exist."""
    found = ipr.link_lookup(ifname=name)
    if not found:
        return None
    index = int(found[0])
    link = ipr.get_links(index)[0]
    flags = int(link["flags"])
    v4, v6 = [], []
    for msg in ipr.get_addr(index=index):
        if msg["scope"] != RT_SCOPE_UNIVERSE:
            continue
        address = _attr(msg, "IFA_LOCAL") or _attr(msg, "IFA_ADDRESS")
        if msg["family"] == socket.AF_INET:
            v4.append(ipaddress.IPv4Interface(f"{address}/{msg['prefixlen']}"))
        elif msg["family"] == socket.AF_INET6:
            v6.append(ipaddress.IPv6Interface(f"{address}/{msg['prefixlen']}"))
    return InterfaceInfo(
        index=index,
        admin_up=bool(flags & IFF_UP),
        carrier=bool(flags & IFF_LOWER_UP),
        addresses4=tuple(v4),
        addresses6=tuple(v6),
    )


def add_device(ipr: IPRoute, name: str, kind: str) -> None:
    """Create interface `name` of link kind `kind`; the kernel's refusal as an OSError with
    its errno (EOPNOTSUPP: the kernel has no such kind)."""
    try:
        ipr.link("add", ifname=name, kind=kind)
    except NetlinkError as exc:
        raise OSError(exc.code, f"cannot create {name} ({kind}): {os.strerror(exc.code)}") from exc


def default_gateways(ipr: IPRoute, family: Family) -> list[tuple[str, str]]:
    """(device, gateway) of every main-table default route, multipath nexthops included."""
    names: dict[int, str] = {}
    found = []
    for msg in ipr.get_routes(family=AF_OF[family], table=254):
        if msg["dst_len"] != 0 or _attr(msg, "RTA_DST"):
            continue
        hops = _attr(msg, "RTA_MULTIPATH") or [msg]
        for hop in hops:
            index = hop.get("oif") if "oif" in hop else _attr(hop, "RTA_OIF")
            gateway = _attr(hop, "RTA_GATEWAY")
            device = _ifname(index, names)
            if device and gateway:
                found.append((device, gateway))
    return found


def interfaces_facts(ipr: IPRoute, names: Iterable[str]) -> dict[str, InterfaceFacts]:
    """What discovery knows of each interface: per family the gateway of a main-table
    default route through it, its first global address and its connected subnets. Links
    that leave these out of the config follow the interface (DHCP renewals) on every
    reconcile. The main table is read once per family for all of them."""
    gateways: dict[Family, dict[str, str]] = {4: {}, 6: {}}
    for family, by_device in gateways.items():
        for dev, gateway in default_gateways(ipr, family):
            by_device.setdefault(dev, gateway)
    return {name: _facts(ipr, name, gateways) for name in names}


def _facts(ipr: IPRoute, name: str, gateways: dict[Family, dict[str, str]]) -> InterfaceFacts:
    info = interface_info(ipr, name)
    if info is None:
        return InterfaceFacts(present=False)
    per_family = []
    pairs: tuple[tuple[Family, tuple[Any, ...]], ...] = (
        (4, info.addresses4),
        (6, info.addresses6),
    )
    for family, addresses in pairs:
        gateway = gateways[family].get(name)
        subnets = {str(a.network) for a in addresses if a.network.prefixlen < a.max_prefixlen}
        per_family.append(
            FamilyFacts(
                gateway=gateway,
                source=str(addresses[0].ip) if addresses else None,
                subnets=tuple(sorted(subnets)),
            )
        )
    return InterfaceFacts(
        present=True,
        v4=per_family[0],
        v6=per_family[1],
        index=info.index,
        admin_up=info.admin_up,
        carrier=info.carrier,
    )


def read_neighbours(ipr: IPRoute) -> list[NeighbourChanged]:
    """The hosts the router knows on its directly connected networks (IPv4 and IPv6)."""
    known = (neighbour(msg) for af in AF for msg in ipr.get_neighbours(family=af))
    return [entry for entry in known if entry is not None]


def local_addresses(ipr: IPRoute, uplinks: Iterable[str]) -> dict[Family, str]:
    """Per family, the first global address of an interface that is not an uplink (lowest
    interface index first): the router's own address towards its LAN or management."""
    skip: set[str | None] = set(uplinks)
    names: dict[int, str] = {}
    found: dict[Family, tuple[int, str]] = {}
    for msg in ipr.get_addr():
        family = AF.get(msg["family"])
        if family is None or msg["scope"] != RT_SCOPE_UNIVERSE:
            continue
        if _ifname(msg["index"], names) in skip:
            continue
        address = _attr(msg, "IFA_LOCAL") or _attr(msg, "IFA_ADDRESS")
        if family not in found or msg["index"] < found[family][0]:
            found[family] = (msg["index"], address)
    return {family: address for family, (_, address) in found.items()}


def foreign_rule_marks(ipr: IPRoute) -> list[tuple[str, int]]:
    """The marks that other programs' `ip rule`s match (wg-quick, Tailscale, Cilium, ...),
    each with how `ip rule` would show it, so `check` can tell when they overlap ours."""
    found = []
    for af, family in AF.items():
        for msg in ipr.get_rules(family=af):
            if _attr(msg, "FRA_PROTOCOL") == ROUTE_PROTO:
                continue
            mark, mask = _attr(msg, "FRA_FWMARK") or 0, _attr(msg, "FRA_FWMASK") or 0
            if mark or mask:
                priority = _attr(msg, "FRA_PRIORITY") or 0
                shown = f"ip -{family} rule pref {priority} fwmark {mark:#x}/{mask:#x}"
                # A full-mask match cares about the bits set in its value; a partial one
                # about the bits of its mask.
                found.append((shown, mark if mask in (0, 0xFFFFFFFF) else mask))
    return found
