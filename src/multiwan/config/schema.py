"""The config file's schema: what a user may write, with types, defaults and meaning.

Pydantic validates the whole file in one pass and reports every problem with its path, which
`config.load` turns into file:line messages. Cross-references (a policy naming a link, a rule
naming a policy) are checked here too, so a Config that exists is consistent.
"""

import grp
import ipaddress
import re
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from multiwan.config.addresses import Network, ip_address
from multiwan.config.autoweight import WEIGHT_MAX, AutoWeight
from multiwan.config.base import Expected, InterfaceName, Strict
from multiwan.config.health import HealthCheck
from multiwan.config.services import Service
from multiwan.config.tunnels import file_digest, tunnel_problems

#: `Expected` is what error messages say was expected.
Name = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,30}$"),
    Expected("a name (a letter, then up to 30 letters, digits, '_' or '-')"),
]
#: Shown in nft rule comments (128 bytes at most there); no quotes or control characters
#: (nft strings have no escapes) and no '=' (the digests' comments are `static=...`, `d=...`).
RuleName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$"),
    Expected(
        "a rule name (a letter or digit, then up to 63 letters, digits, spaces, '_', '-' or '.')"
    ),
]
#: One routing table and one mark value per link (core/ownership.MAX_LINKS).
MAX_LINKS = 250
PORT_RANGE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")
RESERVED_VIA = "main"


class Link(Strict):
    """An uplink: an interface with a gateway, balanced into by policies."""

    interface: InterfaceName = Field(
        description="The uplink's interface; each interface belongs to one link."
    )
    id: Annotated[int, Field(ge=1, le=MAX_LINKS)] | None = Field(
        None,
        description="Routing-table (7700 + id) and mark index. Omitted: the lowest free id in "
        "file order; set it to keep marks stable when links are inserted before this one.",
    )
    gateway: str | None = Field(
        None, description="IPv4 gateway. Omitted: the main table's default route via the interface."
    )
    source: str | None = Field(
        None, description="IPv4 source address. Omitted: the interface's first global address."
    )
    gateway6: str | None = Field(
        None, description="IPv6 gateway (with ipv6 = true). Omitted: discovered."
    )
    source6: str | None = Field(
        None, description="IPv6 source address (with ipv6 = true). Omitted: discovered."
    )
    ipv6: bool = Field(False, description="Route IPv6 through this link too.")
    weight: Annotated[
        Annotated[int, Field(gt=0, le=WEIGHT_MAX)] | Literal["auto"],
        Expected(f'an integer 1-{WEIGHT_MAX} or "auto"'),
    ] = Field(
        1,
        description='Share of new connections among the live links of its tier, or "auto": '
        "the capacity the link has shown, in Mbit/s, scaled by its quality (see auto_weight).",
    )
    auto_weight: AutoWeight | None = Field(
        None,
        description='With weight = "auto": how the link is measured and how often its '
        "weight may change. Omitted: the defaults.",
    )
    priority: Annotated[int, Field(ge=0, le=1000)] = Field(
        1, description="Failover tier: lower is preferred; a tier is used while it has a live link."
    )
    masquerade: bool = Field(True, description="NAT what leaves by this link to its address.")
    masquerade6: bool = Field(
        False, description="Masquerade IPv6 too (NAT66); IPv6 normally routes the LAN's prefix."
    )
    enabled: bool = Field(
        True, description="false: keep the link's routes but give it no new connections."
    )
    metered: bool = Field(
        False,
        description="Paid by volume (LTE): `check` warns when its probes would send much a month.",
    )
    health: HealthCheck | None = Field(
        None,
        description="How this link is probed. Omitted: the top-level [health], else never "
        "probed (up while its interface is present with carrier).",
    )
    tunnel: Literal["wireguard", "openvpn"] | None = Field(
        None,
        description="This link is a tunnel that the daemon runs (kernel WireGuard, else "
        "wireguard-go; openvpn) over the link `over`, its interface the tunnel's device: "
        "started while the base link is up, stopped while it is down, restarted with backoff "
        "when it exits.",
    )
    over: Name | None = Field(
        None,
        description="tunnel: the base link the tunnel rides on; its packets carry that link's "
        "mark and device, so they leave by it and are never balanced.",
    )
    tunnel_config: str | None = Field(
        None,
        description="tunnel: absolute path of the tunnel's config file: a wg-quick style file "
        "(Address, MTU, PrivateKey, [Peer]s; no wg-quick hooks, FwMark or DNS) or an openvpn "
        "config (without dev, dev-type, mark, bind-dev, daemon).",
    )

    #: The tunnel file's content as read with the config: a reload that finds it changed
    #: restarts the tunnel (core/tunnels.TunnelSpec).
    _tunnel_digest: str = PrivateAttr("")

    @model_validator(mode="after")
    def _read_tunnel_file(self) -> Self:
        if self.tunnel_config is not None:
            self._tunnel_digest = file_digest(self.tunnel_config)
        return self

    @property
    def tunnel_digest(self) -> str:
        return self._tunnel_digest

    @model_validator(mode="after")
    def _auto_weight_needs_auto(self) -> Self:
        if self.auto_weight is not None and self.weight != "auto":
            raise ValueError(f'auto_weight needs weight = "auto" (weight is {self.weight})')
        return self

    @property
    def weighing(self) -> AutoWeight | None:
        """How the link is weighed when its weight is "auto" (the defaults unless given)."""
        if self.weight != "auto":
            return None
        return self.auto_weight or AutoWeight()

    @property
    def fixed_weight(self) -> int:
        """The weight that compiles into the table: the configured one, or an auto link's
        initial weight (the measured one replaces it at run time: core/autoweight.py)."""
        weighing = self.weighing
        return weighing.initial if weighing is not None else int(self.weight)

    @field_validator("gateway", "source")
    @classmethod
    def _v4(cls, value: str | None) -> str | None:
        return None if value is None else ip_address(value, 4)

    @field_validator("gateway6", "source6")
    @classmethod
    def _v6(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and "%" in value and info.field_name == "gateway6":
            raise ValueError(
                f"give the gateway without its scope id ({value.partition('%')[0]!r}): "
                "it is reached on the link's interface"
            )
        return None if value is None else ip_address(value, 6)


class Member(Strict):
    """A link inside a policy, optionally with its own weight and tier for that policy."""

    link: Name = Field(description="The link.")
    weight: Annotated[int, Field(gt=0, le=1000)] | None = Field(
        None, description="Its weight in this policy. Omitted: the link's weight."
    )
    priority: Annotated[int, Field(ge=0, le=1000)] | None = Field(
        None, description="Its tier in this policy. Omitted: the link's priority."
    )


Strategy = Literal[
    "balance",
    "failover",
    "round-robin",
    "destination",
    "source",
    "sticky",
    "packet",
    "route",
    "least-loaded",
]
#: Every policy strategy, as `strategy` and `multiwan mode` spell them.
STRATEGIES: tuple[str, ...] = get_args(Strategy)


class Policy(Strict):
    """How new connections choose among links.

    balance: weighted random over the live links of the best live tier (lowest priority).
    failover: everything on the single best live link (lowest priority, then file order).
    round-robin: new connections take the live links in turn, by weight.
    destination / source: a weighted hash of the destination (client) address, so one
    server (client) keeps one link; consistent: when a link dies only its addresses move,
    and they move back when it returns.
    sticky: balance, but a new connection from a source (or source and destination, see
    `sticky_key`) that chose a link in the last `sticky_timeout` seconds reuses it, while
    that link is still in the policy's choice.
    packet: every packet weighted over the live links (one flow uses them all): for links
    that end at one far end, such as tunnels to one server.
    route: a kernel multipath route over the live links (ECMP): the kernel hashes each flow
    to a link (`hash_policy`), nft does not choose.
    least-loaded: each LAN client (learned from the neighbour table) is given the link with
    the fewest clients for its weight and keeps it (core/pools.py).
    """

    strategy: Strategy = Field(
        "balance",
        description="How new connections choose among the live links of the best tier: "
        "balance, failover, round-robin, destination, source, sticky, packet, route or "
        "least-loaded (see the README's strategies table).",
    )
    sticky_key: Literal["source", "source-destination"] = Field(
        "source",
        description="sticky: what is remembered, the client address or the client and server pair.",
    )
    sticky_timeout: Annotated[int, Field(ge=1, le=86400)] = Field(
        600,
        description="sticky: seconds a choice is kept after the last new connection that used it.",
    )
    hash_policy: Literal["l3", "l4"] = Field(
        "l3",
        description="route: what the kernel hashes, addresses (l3) or addresses and ports "
        "(l4); one setting per namespace, so every route policy must agree.",
    )
    links: Annotated[list[Name | Member], Field(min_length=1)] = Field(
        description="Member links: names, or tables with their own weight and priority."
    )
    last_resort: Literal["main", "unreachable", "blackhole"] = Field(
        "main",
        description="When no member is live: use the main table, reject new connections, or "
        "drop them.",
    )
    flush_last_resort: bool = Field(
        True,
        description="When a member returns, delete the connections that went to main "
        "meanwhile so they reconnect over the links (false: they stay until they end).",
    )
    return_home: bool = Field(
        False,
        description="least-loaded: clients moved off a dead link go back to it when it "
        "returns (false: they stay, and newcomers even out the load).",
    )

    def members(self) -> list[Member]:
        return [Member(link=m) if isinstance(m, str) else m for m in self.links]


def _port_spec(value: int | str) -> str:
    text = str(value)
    match = PORT_RANGE.match(text)
    if not match:
        raise ValueError(f"expected a port (1-65535) or range 'LOW-HIGH', got {value!r}")
    low, high = int(match[1]), int(match[2] or match[1])
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"expected ports 1-65535 with LOW <= HIGH, got {value!r}")
    return f"{low}-{high}" if high != low else str(low)


#: Validated one by one, so an error names the element (`rules[3].dport[1]`).
PortSpec = Annotated[
    int | str, AfterValidator(_port_spec), Expected("a port (1-65535) or 'LOW-HIGH'")
]


#: nft log prefixes take up to 127 bytes and, like every nft string, no quotes.
LogPrefix = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9 _.:/=-]{1,64}$"),
    Field(description="a log prefix (1-64 letters, digits, spaces or '_.:/=-')"),
]


class Rule(Strict):
    """Traffic selector, first match wins. `via` is a policy, a link, or `main` (bypass)."""

    name: RuleName | None = Field(None, description="Shown in nft comments and messages.")
    src: list[Network] = Field(
        [], description="Source networks (CIDR, IPv4 or IPv6); any if empty."
    )
    dst: list[Network] = Field([], description="Destination networks; any if empty.")
    proto: Literal["tcp", "udp", "icmp", "icmpv6"] | None = Field(
        None, description="Protocol. Omitted: any (with ports: tcp and udp)."
    )
    sport: list[PortSpec] = Field(
        [], description="Source ports and 'LOW-HIGH' ranges (normalised to strings)."
    )
    dport: list[PortSpec] = Field([], description="Destination ports and 'LOW-HIGH' ranges.")
    iif: InterfaceName | None = Field(None, description="Only connections arriving on it.")
    dst_set: Name | None = Field(
        None,
        description="Match destinations in the nft sets <name>_v4 and <name>_v6 that multiwan "
        "creates in its table and other programs fill (dnsmasq nftset=); their elements "
        "survive config changes.",
    )
    via: Name = Field(description="A policy, a link (while live, else the default policy), or "
                      "'main' (the normal routing table).")  # fmt: skip
    log: LogPrefix | None = Field(
        None,
        description="Log each new connection this rule sends (kernel log, nft log prefix) "
        "with this prefix; omitted: no logging. Every rule counts its new connections.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.dst and self.dst_set:
            raise ValueError("give dst or dst_set, not both")
        if (self.sport or self.dport) and self.proto in ("icmp", "icmpv6"):
            raise ValueError("ports need proto 'tcp', 'udp' or no proto (both)")
        families = {ipaddress.ip_network(c).version for c in [*self.src, *self.dst]}
        if self.src and self.dst:
            src_f = {ipaddress.ip_network(c).version for c in self.src}
            dst_f = {ipaddress.ip_network(c).version for c in self.dst}
            if not src_f & dst_f:
                raise ValueError("src and dst have no address family in common")
        if (self.proto == "icmp" and families == {6}) or (
            self.proto == "icmpv6" and families == {4}
        ):
            raise ValueError(f"proto {self.proto!r} does not match the addresses' family")
        return self

    def families(self) -> list[int]:
        """Address families this rule can match (both when it names no address)."""
        cidrs = [*self.src, *self.dst]
        found: list[int] = sorted({ipaddress.ip_network(c).version for c in cidrs})
        if self.src and self.dst:
            src_f = {ipaddress.ip_network(c).version for c in self.src}
            dst_f = {ipaddress.ip_network(c).version for c in self.dst}
            found = sorted(src_f & dst_f)
        if self.proto == "icmp":
            found = [f for f in found or [4] if f == 4]
        elif self.proto == "icmpv6":
            found = [f for f in found or [6] if f == 6]
        return found or [4, 6]


#: Conntrack helpers multiwan can attach, with the protocol and port of their control channel.
HELPERS: dict[str, tuple[str, int]] = {
    "ftp": ("tcp", 21),
    "tftp": ("udp", 69),
    "sip": ("udp", 5060),
    "irc": ("tcp", 6667),
    "pptp": ("tcp", 1723),
}


def _hooks_dir(value: str) -> str:
    """Absolute, so it does not depend on the daemon's working directory; no NUL, which
    Python's path calls refuse with ValueError."""
    if not value.startswith("/") or "\0" in value:
        raise ValueError(f"expected an absolute path, got {value!r}")
    return value


def _group(value: str) -> str:
    """The group must exist when the daemon starts; `check` looks it up (the config's one
    read of the system, here so that `check` refuses what would stop the daemon)."""
    try:
        grp.getgrnam(value)
    except KeyError:
        raise ValueError(f"no group {value!r} on this system") from None
    return value


LISTEN = 'IPV4:PORT, [IPV6]:PORT (an address, port 1-65535), or "" for none'


def _listen(value: str) -> str:
    """A literal address and port, as the metrics server binds them."""
    if not value:
        return value
    host, _, port = value.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    try:
        address = ip_address(host[1:-1] if bracketed else host, 6 if bracketed else 4)
    except ValueError:
        address = None
    if address is None or not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"expected {LISTEN}, got {value!r}")
    return f"[{address}]:{int(port)}" if bracketed else f"{address}:{int(port)}"


class Daemon(Strict):
    """Settings of `multiwan run`."""

    hooks_dir: Annotated[str, AfterValidator(_hooks_dir)] = Field(
        "/etc/multiwan/hooks.d",
        description="Executables run on every link state change (LINK, STATE, PREVIOUS, "
        "INTERFACE, GATEWAY in their environment).",
    )
    hook_timeout: Annotated[float, Field(gt=0, le=600)] = Field(
        10.0, description="Seconds a hook may run before it is killed."
    )
    reconcile_delay: Annotated[float, Field(ge=0, le=10)] = Field(
        0.05,
        description="Seconds to wait before a full reconcile after address and route events "
        "(they come in bursts).",
    )
    status_group: Annotated[str, AfterValidator(_group)] | None = Field(
        None,
        description="Members of this group may read status and log through the control socket "
        "(control itself is root only).",
    )
    metrics_listen: Annotated[str, AfterValidator(_listen)] = Field(
        "127.0.0.1:9560", description='Prometheus metrics endpoint (IP:PORT); "" turns it off.'
    )


class Config(Strict):
    """A whole multiwan config file: a multi-WAN router (links, a default policy), an
    inbound balancer (services only: no routing is touched), or both."""

    default_policy: Name | None = Field(
        None,
        description="The policy (or link) for traffic no rule matches; required with links.",
    )
    links: dict[Name, Link] = Field({}, description="Uplinks by name.")
    policies: dict[Name, Policy] = Field({}, description="How connections choose among links.")
    rules: list[Rule] = Field([], description="Traffic selectors; the first match wins.")
    conntrack_helpers: list[Literal["ftp", "tftp", "sip", "irc", "pptp"]] = Field(
        [],
        description="Conntrack helpers to attach: the connections they announce (FTP data, "
        "...) are related and stay on the link of their control connection.",
    )
    local_source: str = Field(
        "auto",
        description="Source address of the router's own connections that bind none: 'auto' "
        "(the first global address of a non-uplink interface, e.g. the LAN's; then balanced "
        "and masqueraded like forwarded traffic), 'none' (a link's address, per destination), "
        "or an address. Sockets bound to a link's address always stay on that link.",
    )
    mark_mask: int = Field(
        0xFF00,
        description="The packet/conntrack mark bits multiwan owns (contiguous, at least 8); "
        "move it when another program uses these bits.",
    )
    health: HealthCheck | None = Field(
        None, description="Health check of every link that has none of its own."
    )
    services: dict[Name, Service] = Field(
        {}, description="Inbound services: virtual IP:port balanced over backends."
    )
    daemon: Daemon = Field(default_factory=Daemon, description="Settings of `multiwan run`.")

    @field_validator("mark_mask")
    @classmethod
    def _mark_mask(cls, mask: int) -> int:
        """Contiguous bits, at least 8 of them (250 links and two reserved values)."""
        if not 0 < mask <= 0xFFFFFFFF:
            raise ValueError("expected a mask within 32 bits, e.g. 0xff00")
        if (mask + (mask & -mask)) & mask:
            raise ValueError(f"expected contiguous bits, got {mask:#x}")
        if mask.bit_count() < 8:
            raise ValueError(f"expected at least 8 bits (250 links, 2 reserved), got {mask:#x}")
        return mask

    @field_validator("local_source")
    @classmethod
    def _local_source(cls, value: str) -> str:
        if value in ("auto", "none"):
            return value
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(f"expected 'auto', 'none' or an IP address, got {value!r}") from None

    def health_of(self, link: str) -> HealthCheck | None:
        return self.links[link].health or self.health

    @model_validator(mode="after")
    def _references(self) -> Self:
        problems = reference_problems(self.model_dump())
        if problems:
            raise ValueError("\n".join(f"{field}: {message}" for field, message in problems))
        return self

    def link_ids(self) -> dict[str, int]:
        """Each link's index: its explicit id, else the lowest free one in file order."""
        taken = {link.id for link in self.links.values() if link.id is not None}
        free = (i for i in range(1, MAX_LINKS + 1) if i not in taken)
        return {
            name: link.id if link.id is not None else next(free)
            for name, link in self.links.items()
        }


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def reference_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for every name that does not resolve, on raw config data.

    Tolerates partially invalid input (wrong types are the schema's to report), so the loader
    can report these together with field errors in one pass.
    """
    links, policies = _dict(data.get("links")), _dict(data.get("policies"))
    problems: list[tuple[str, str]] = []
    if len(links) > MAX_LINKS:
        problems.append(
            (
                "links",
                f"at most {MAX_LINKS} links (a routing table and mark each), got {len(links)}",
            )
        )
    for name in sorted(set(links) & set(policies)):
        problems.append((f"policies.{name}", f"{name!r} is also the name of a link"))
    for section, names in (("links", links), ("policies", policies)):
        if RESERVED_VIA in names:
            problems.append((f"{section}.{RESERVED_VIA}", "'main' is reserved (main table)"))
    interfaces: dict[str, str] = {}
    ids: dict[int, str] = {}
    for name, raw_link in links.items():
        link = _dict(raw_link)
        interface, link_id = link.get("interface"), link.get("id")
        if isinstance(interface, str):
            if interface in interfaces:
                problems.append(
                    (
                        f"links.{name}.interface",
                        f"{interface!r} is already used by link {interfaces[interface]!r}",
                    )
                )
            interfaces.setdefault(interface, name)
        if isinstance(link_id, int):
            if link_id in ids:
                problems.append(
                    (f"links.{name}.id", f"{link_id} is already used by {ids[link_id]!r}")
                )
            ids.setdefault(link_id, name)
    known = ", ".join(links) or "none"
    for pname, policy in policies.items():
        seen: set[str] = set()
        for i, member in enumerate(_list(_dict(policy).get("links"))):
            target = member.get("link") if isinstance(member, dict) else member
            if not isinstance(target, str):
                continue
            if target not in links:
                problems.append(
                    (f"policies.{pname}.links[{i}]", f"unknown link {target!r} (links: {known})")
                )
            elif target in seen:
                problems.append((f"policies.{pname}.links[{i}]", f"link {target!r} listed twice"))
            seen.add(target)
    problems += tunnel_problems(links)
    problems += _route_problems(policies, links)
    problems += _shape_problems(data, links)
    default = data.get("default_policy")
    if isinstance(default, str) and default not in policies and default not in links:
        problems.append(
            (
                "default_policy",
                f"unknown policy {default!r} (policies: {', '.join(policies) or 'none'})",
            )
        )
    for i, rule in enumerate(_list(data.get("rules"))):
        via = _dict(rule).get("via")
        if isinstance(via, str) and via != RESERVED_VIA and via not in links | policies:
            problems.append((f"rules[{i}].via", f"{via!r} is not a policy, a link or 'main'"))
    return problems


def _route_problems(policies: dict[str, Any], links: dict[str, Any]) -> list[tuple[str, str]]:
    """Every policy takes a free link index (the mark and table it uses as a `route` policy,
    which `multiwan mode route` can make any of them), and route policies share the
    kernel's one multipath hash setting."""
    routed = {n: _dict(p) for n, p in policies.items() if _dict(p).get("strategy") == "route"}
    problems = []
    if len(links) <= MAX_LINKS < len(links) + len(policies):  # too many links: said apart
        problems.append(("policies", "links and policies take a mark and table each: "
                         f"at most {MAX_LINKS} together"))  # fmt: skip
    hashes = {n: p.get("hash_policy", "l3") for n, p in routed.items()}
    first = next(iter(hashes.items()), None)
    for name, value in hashes.items():
        if first is not None and value != first[1]:
            problems.append((f"policies.{name}.hash_policy", f"{value!r} differs from "
                             f"{first[1]!r} of policy {first[0]!r}: the kernel has one "
                             "multipath hash setting"))  # fmt: skip
    return problems


def _shape_problems(data: dict[str, Any], links: dict[str, Any]) -> list[tuple[str, str]]:
    """A router needs a default policy; a box without links may only balance services."""
    if links:
        if "default_policy" not in data:
            return [("default_policy", "required with links: the policy (or link) for "
                     "traffic no rule matches")]  # fmt: skip
        return []
    if not _dict(data.get("services")):
        return [("links", "expected links (a multi-WAN router), services (an inbound "
                 "balancer), or both")]  # fmt: skip
    problems = []
    if _list(data.get("rules")):
        problems.append(("rules", "rules choose among links, and there are none"))
    if _list(data.get("conntrack_helpers")):
        problems.append(("conntrack_helpers", "helpers keep related connections on their "
                         "link, and there are no links"))  # fmt: skip
    return problems
