"""Warnings about topologies that cannot work, from the config and facts read at the edge.

None of these makes a config invalid (the machine may change before `apply`, or the user may
know better); each names the field it concerns, so `check` and `plan` print them like config
problems, marked as warnings, and still exit 0.
"""

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from multiwan.config.schema import Config
from multiwan.core.links import ResolvedLink
from multiwan.core.ownership import KNOWN_MARKS

IP_FORWARD = "net/ipv4/ip_forward"
IP6_FORWARD = "net/ipv6/conf/all/forwarding"
RP_FILTER_ALL = "net/ipv4/conf/all/rp_filter"
STRICT = 1


@dataclass(frozen=True, order=True)
class Finding:
    field: str  # config path it concerns, e.g. "links.wan1.gateway"
    message: str


def rp_filter(interface: str) -> str:
    return f"net/ipv4/conf/{interface}/rp_filter"


def sysctl_keys(config: Config) -> list[str]:
    """The sysctls `advise` needs read."""
    keys = [IP_FORWARD, IP6_FORWARD, RP_FILTER_ALL]
    return keys + [rp_filter(link.interface) for link in config.links.values()]


def _dotted(key: str) -> str:
    """A sysctl key as `sysctl` spells it (for messages)."""
    return key.replace("/", ".")


def _int(value: str | None) -> int:
    return int(value) if value is not None and value.isdigit() else 0


def _outside(gateway: str, subnets: Iterable[str]) -> bool:
    address = ipaddress.ip_address(gateway)
    if address.is_link_local:
        return False  # IPv6 routers are usually reached by their link-local address
    return not any(address in ipaddress.ip_network(subnet) for subnet in subnets)


def _gateways(config: Config, links: Iterable[ResolvedLink]) -> list[Finding]:
    found = []
    for link in links:
        configured = config.links[link.name]
        for key, gateway, addressing in (
            ("gateway", configured.gateway, link.v4),
            ("gateway6", configured.gateway6, link.v6),
        ):
            if (
                gateway
                and addressing
                and addressing.subnets
                and _outside(gateway, addressing.subnets)
            ):
                subnets = ", ".join(addressing.subnets)
                found.append(
                    Finding(
                        f"links.{link.name}.{key}",
                        f"{gateway} is outside the subnets of {link.interface} ({subnets}): the "
                        "kernel refuses a route through it",
                    )
                )
    return found


def _rp_filters(
    config: Config, now: Mapping[str, str | None], wanted: Mapping[str, str]
) -> list[Finding]:
    """Strict reverse-path filtering on an uplink (the kernel uses the larger of `all` and
    the interface's value) drops replies that arrive on a link main would not choose."""
    found = []
    every = _int(now.get(RP_FILTER_ALL))
    for name, link in config.links.items():
        key = rp_filter(link.interface)
        if key not in now or now[key] is None:
            continue  # interface absent
        current = max(every, _int(now[key]))
        if current != STRICT:
            continue
        who = RP_FILTER_ALL if every == STRICT else key
        after = max(_int(wanted.get(RP_FILTER_ALL, str(every))), _int(wanted.get(key, now[key])))
        fix = (
            f"multiwan sets {_dotted(key)} = {wanted[key]} when applying, but whatever set 1 "
            "(sysctl.d, NetworkManager, systemd-networkd) may set it again"
            if after != STRICT and key in wanted
            else "set it to 2 (loose) or 0"
        )
        found.append(
            Finding(
                f"links.{name}.interface",
                f"reverse-path filtering is strict on {link.interface} ({_dotted(who)} = 1): "
                "replies that "
                f"arrive on a link the main table would not choose are dropped; {fix}",
            )
        )
    return found


def _forwarding(config: Config, now: Mapping[str, str | None]) -> list[Finding]:
    found = []
    section = "links" if config.links else "services"
    if now.get(IP_FORWARD) == "0":
        what = "LAN clients' connections" if config.links else "connections to the backends"
        found.append(
            Finding(
                section,
                f"net.ipv4.ip_forward is 0: {what} are not forwarded (fine only if this machine "
                "balances its own traffic alone)",
            )
        )
    v6 = any(link.ipv6 for link in config.links.values()) or any(
        ":" in address for service in config.services.values() for address in service.listen
    )
    if v6 and now.get(IP6_FORWARD) == "0":
        found.append(
            Finding(
                section, "net.ipv6.conf.all.forwarding is 0: IPv6 connections are not forwarded"
            )
        )
    return found


def _unchecked(config: Config) -> list[Finding]:
    if len(config.links) < 2:
        return []
    message = (
        "no health check (no [health], no [links.NAME.health]): only a lost carrier takes it "
        "out, so a dead ISP behind a live modem keeps its share of new connections"
    )
    return [
        Finding(f"links.{name}", message) for name in config.links if config.health_of(name) is None
    ]


def _mark_overlaps(config: Config, foreign: Iterable[tuple[str, int]]) -> list[Finding]:
    """Other programs' `ip rule`s that match bits of multiwan's marks: their packets and
    ours would be mistaken for each other."""
    found = []
    for shown, bits in foreign:
        if bits & config.mark_mask:
            known = [name for name, marks in KNOWN_MARKS.items() if bits & ~marks == 0]
            hint = f" (like {', '.join(known)})" if known else ""
            found.append(
                Finding(
                    "mark_mask",
                    f"{config.mark_mask:#x} overlaps `{shown}`{hint}: another program uses "
                    "these mark bits; set mark_mask to bits it leaves alone",
                )
            )
    return found


def _far_ends(config: Config, links: Iterable[ResolvedLink]) -> list[Finding]:
    """A `packet` policy spreads one connection's packets over its links: only links that
    end at one far end (point-to-point tunnels, or one gateway) deliver them as one flow."""
    by_name = {link.name: link for link in links}
    found = []
    for name, policy in config.policies.items():
        if policy.strategy != "packet":
            continue
        members = [by_name[m.link] for m in policy.members() if m.link in by_name]
        ends = {(addr.gateway if (addr := link.v4 or link.v6) else None) for link in members}
        if len(ends) > 1:
            shown = ", ".join(sorted(end or "point-to-point" for end in ends))
            found.append(
                Finding(
                    f"policies.{name}.strategy",
                    f"'packet' sends the packets of one connection over every member, but "
                    f"they end at different far ends ({shown}): a server sees one flow "
                    "arrive from several addresses and drops it (fine for tunnels to one "
                    "server, which this check cannot see through)",
                )
            )
    return found


def advise(
    config: Config,
    links: Iterable[ResolvedLink],
    now: Mapping[str, str | None],
    wanted: Mapping[str, str],
    foreign_marks: Iterable[tuple[str, int]] = (),
) -> list[Finding]:
    """Every warning, sorted. `links` as resolved from the interfaces, `now` the sysctls of
    `sysctl_keys` as read (None: absent), `wanted` the sysctls multiwan would set,
    `foreign_marks` the marks other programs' `ip rule`s match (as shown, bits)."""
    links = list(links)
    return sorted(
        [
            *_gateways(config, links),
            *_rp_filters(config, now, wanted),
            *_forwarding(config, now),
            *_unchecked(config),
            *_mark_overlaps(config, foreign_marks),
            *_far_ends(config, links),
        ]
    )
