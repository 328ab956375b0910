"""Warnings about topologies that cannot work, from the config and facts read at the edge.

None of these makes a config invalid (the machine may change before `apply`, or the user may
know better); each names the field it concerns, so `check` and `plan` print them like config
problems, marked as warnings, and still exit 0.
"""

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from multiwan.config.health import HealthCheck
from multiwan.config.schema import RESERVED_VIA, Config
from multiwan.core.links import InterfaceFacts, ResolvedLink
from multiwan.core.ownership import KNOWN_MARKS
from multiwan.core.shadow import shadowed_by

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
    end at one far end (point-to-point tunnels, or one gateway) deliver them as one flow.
    Tunnel links multiwan runs end at their server, whatever their gateways."""
    by_name = {link.name: link for link in links}
    found = []
    for name, policy in config.policies.items():
        tunnels = all(config.links[m.link].tunnel for m in policy.members())
        if policy.strategy != "packet" or tunnels:
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


def _shadowed(config: Config) -> list[Finding]:
    """A rule that can never match: an earlier one matches everything it does."""
    found = []
    for index, rule in enumerate(config.rules):
        earlier = shadowed_by(config.rules[:index], rule)
        if earlier is not None:
            name = config.rules[earlier].name
            label = f"rules[{earlier}]" + (f" ({name!r})" if name else "")
            found.append(Finding(f"rules[{index}]", f"never matches: {label} before it matches "
                                 "every connection it does (the first match wins)"))  # fmt: skip
    return found


def _lan_balanced(config: Config, lan: Mapping[str, InterfaceFacts]) -> list[Finding]:
    """A rule that sends the LAN (a subnet of an interface that is no uplink) to a link or
    policy: the LAN's own routes win over marks anyway, so its connections are marked and
    counted as a link's for nothing, and a reader believes they are balanced."""
    subnets = [
        (name, ipaddress.ip_network(subnet))
        for name, facts in sorted(lan.items())
        for subnet in (*facts.v4.subnets, *facts.v6.subnets)
    ]
    found = []
    for index, rule in enumerate(config.rules):
        if rule.via == RESERVED_VIA:
            continue
        for cidr in rule.dst:
            net = ipaddress.ip_network(cidr)
            for interface, subnet in subnets:
                if net.version == subnet.version and net.overlaps(subnet) and net.prefixlen:
                    found.append(Finding(f"rules[{index}].dst", f"{cidr} covers the LAN "
                        f"{subnet} ({interface}) and goes to {rule.via}: local routes win over "
                        'links anyway; give the LAN a rule with via = "main" first'))  # fmt: skip
    return found


#: Ports an operator manages the router by: SSH, and the metrics port.
def _management_ports(config: Config) -> dict[int, str]:
    ports = {22: "SSH"}
    if config.daemon.metrics_listen:
        ports[int(config.daemon.metrics_listen.rpartition(":")[2])] = "multiwan's metrics"
    return ports


def _management_balanced(
    config: Config, links: Iterable[ResolvedLink], lan: Mapping[str, InterfaceFacts]
) -> list[Finding]:
    """A service that takes over a management port of one of the router's own addresses:
    the operator's SSH reaches a backend instead of the router."""
    own = {f.source for facts in lan.values() for f in (facts.v4, facts.v6) if f.source}
    own |= {a.source for link in links for a in (link.v4, link.v6) if a is not None}
    ports = _management_ports(config)
    found = []
    for name, service in config.services.items():
        for address in service.listen:
            for port in service.ports:
                if address in own and port in ports and service.protocol == "tcp":
                    found.append(Finding(f"services.{name}.ports", f"{address}:{port} is this "
                        f"router's own {ports[port]}: connections to it go to the backends, and "
                        "the router can no longer be reached there"))  # fmt: skip
    return found


def _probed(check: HealthCheck) -> list[str] | None:
    """The addresses a check probes; None when a target is a name or a command."""
    hosts = []
    for target in check.targets:
        if target.kind == "http":
            host = urlsplit(target.url).hostname
        else:
            host = getattr(target, "host", None) or getattr(target, "server", None)
        try:
            hosts.append(str(ipaddress.ip_address(host or "")))
        except ValueError:
            return None
    return hosts


#: Public resolvers people probe, whose addresses are in different networks.
PROVIDERS = {
    "Google": ("8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844"),
    "Cloudflare": ("1.1.1.1", "1.0.0.1", "2606:4700:4700::1111", "2606:4700:4700::1001"),
    "Quad9": ("9.9.9.9", "149.112.112.112", "2620:fe::fe", "2620:fe::9"),
    "OpenDNS": ("208.67.222.222", "208.67.220.220"),
}


def _provider(host: str) -> str:
    """Who runs `host`: a known resolver's provider, else its /24 (IPv6: /48)."""
    for name, addresses in PROVIDERS.items():
        if host in addresses:
            return name
    return str(ipaddress.ip_network(f"{host}/{24 if ':' not in host else 48}", strict=False))


def _one_provider(config: Config, links: Iterable[ResolvedLink]) -> list[Finding]:
    """Two or more targets of a check all at one provider (a known resolver's, or one /24,
    one IPv6 /48), or only the link's own gateway: a modem answers while its line is dead,
    and one provider's trouble (or its ICMP policy) takes every link down at once."""
    resolved = {link.name: link.v4.gateway for link in links if link.v4 is not None}
    checks = [
        (f"links.{name}.health.targets", link.health, link.gateway or resolved.get(name))
        for name, link in config.links.items()
        if link.health is not None
    ]
    if config.health is not None and any(link.health is None for link in config.links.values()):
        checks.append(("health.targets", config.health, None))
    found = []
    for field, check, gateway in checks:
        hosts = _probed(check)
        if not hosts:
            continue
        if gateway is not None and set(hosts) == {gateway}:
            found.append(Finding(field, f"only the link's own gateway ({gateway}) is probed: "
                                 "a modem answers while the line behind it is dead"))  # fmt: skip
            continue
        providers = {_provider(host) for host in hosts}
        if len(hosts) > 1 and len(providers) == 1:
            found.append(Finding(field, f"every target is at one provider ({providers.pop()}): its "
                "trouble, or a change of its ICMP policy, takes every link it probes down at "
                "once; add a target of another provider"))  # fmt: skip
    return found


#: IP bytes both ways of one check of each kind, about (IPv4; IPv6 adds 20 per packet):
#: ICMP echo and reply of 42 bytes; a TCP handshake and close (6 packets); SMTP adds the
#: banner and QUIT; DNS a query and answer; HTTP a small request and response, HTTPS its TLS
#: handshake and certificates.
CHECK_BYTES = {"icmp": 84, "tcp": 340, "smtp": 700, "dns": 220, "udp": 80, "http": 1500}
HTTPS_BYTES = 6000
#: Monthly probe traffic above which a metered link gets a warning.
METERED_LIMIT = 100_000_000
MONTH = 30 * 86400


def probe_bytes_per_month(config: Config, link: str) -> int | None:
    """Probe traffic of `link` in a month at its check's `interval` (None: no check)."""
    check = config.health_of(link)
    if check is None:
        return None
    per_round = 0
    for target in check.targets:
        if target.kind == "http" and target.url.startswith("https:"):
            per_round += HTTPS_BYTES
        else:
            per_round += CHECK_BYTES.get(target.kind, 0)
    return int(per_round * MONTH / check.interval)


def _metered(config: Config) -> list[Finding]:
    found = []
    for name, link in config.links.items():
        volume = probe_bytes_per_month(config, name)
        if not link.metered or volume is None or volume < METERED_LIMIT:
            continue
        check = config.health_of(name)
        assert check is not None
        found.append(Finding(f"links.{name}.metered", f"probes send about {volume / 1e6:,.0f} MB "
            f"a month on this metered link ({len(check.targets)} target(s) every "
            f"{check.interval:g} s); a longer interval or fewer targets costs less"))  # fmt: skip
    return found


def _mixed_weights(config: Config) -> list[Finding]:
    """An auto weight is Mbit/s; a fixed weight beside it in one policy is read as Mbit/s."""
    found = []
    for name, policy in config.policies.items():
        members = [(m, config.links[m.link]) for m in policy.members()]
        auto = [m.link for m, link in members if m.weight is None and link.weighing]
        fixed = [m.link for m, link in members if m.weight is not None or not link.weighing]
        if auto and fixed:
            found.append(Finding(f"policies.{name}", f'mixes weight = "auto" ({", ".join(auto)}: '
                                 f"Mbit/s measured) with fixed weights ({', '.join(fixed)}): "
                                 "those count as Mbit/s beside them"))  # fmt: skip
    return found


def advise(
    config: Config,
    links: Iterable[ResolvedLink],
    now: Mapping[str, str | None],
    wanted: Mapping[str, str],
    foreign_marks: Iterable[tuple[str, int]] = (),
    lan: Mapping[str, InterfaceFacts] | None = None,
) -> list[Finding]:
    """Every warning, sorted. `links` as resolved from the interfaces, `now` the sysctls of
    `sysctl_keys` as read (None: absent), `wanted` the sysctls multiwan would set,
    `foreign_marks` the marks other programs' `ip rule`s match (as shown, bits), `lan` the
    facts of the interfaces that are no uplink."""
    links = list(links)
    return sorted(
        [
            *_gateways(config, links),
            *_rp_filters(config, now, wanted),
            *_forwarding(config, now),
            *_unchecked(config),
            *_mark_overlaps(config, foreign_marks),
            *_far_ends(config, links),
            *_shadowed(config),
            *_lan_balanced(config, lan or {}),
            *_management_balanced(config, links, lan or {}),
            *_one_provider(config, links),
            *_metered(config),
            *_mixed_weights(config),
        ]
    )


def merged_packets(config: Config, gro_on: Sequence[str]) -> list[Finding]:
    """`packet` policies stripe each packet as nft sees it; GRO on an interface that receives
    the LAN's traffic (`gro_on`, read only where such a policy exists) merges a flow's
    packets into super-packets of up to 64 KB, each of which takes one link whole."""
    if not gro_on:
        return []
    names = ", ".join(gro_on)
    off = "; ".join(f"ethtool -K {name} gro off" for name in gro_on)
    return [
        Finding(
            f"policies.{name}.strategy",
            f"GRO is on on {names}: it merges the LAN's packets before nft sees them, and a "
            f"merged packet (up to 64 KB) takes one link whole, so one flow is not striped "
            f"by weight; turn it off: {off}",
        )
        for name, policy in config.policies.items()
        if policy.strategy == "packet"
    ]
