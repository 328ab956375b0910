"""Values that describe kernel state: what multiwan wants and what it finds.

Both the compiler's output (desired) and the kernel readers' output (actual) are built from
these, so a plan is a plain set difference. All are frozen, hashable and ordered, which keeps
plans and golden files deterministic.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Family = Literal[4, 6]


@dataclass(frozen=True, order=True)
class Nexthop:
    """One path of a multipath route."""

    dev: str
    gateway: str | None
    weight: int = 1

    def render(self) -> str:
        via = f"via {self.gateway} " if self.gateway else ""
        return f"nexthop {via}dev {self.dev} weight {self.weight}"


@dataclass(frozen=True, order=True)
class Route:
    """One route in a multiwan routing table (always tagged with ROUTE_PROTO). A multipath
    route has `nexthops` and an empty `dev`."""

    table: int
    family: Family
    dst: str  # "default" or a CIDR such as "192.0.2.0/24"
    dev: str
    gateway: str | None = None
    src: str | None = None  # preferred source address
    scope: Literal["universe", "link"] = "universe"
    nexthops: tuple[Nexthop, ...] = ()

    def render(self) -> str:
        """The `ip route` spelling, for plans and `show`."""
        parts = [f"ip -{self.family} route", self.dst]
        if self.gateway:
            parts.append(f"via {self.gateway}")
        if self.dev:
            parts.append(f"dev {self.dev}")
        parts += [hop.render() for hop in self.nexthops]
        if self.scope == "link":
            parts.append("scope link")
        if self.src:
            parts.append(f"src {self.src}")
        parts.append(f"table {self.table}")
        return " ".join(parts)


@dataclass(frozen=True, order=True)
class Rule:
    """One `ip rule` in multiwan's priority range."""

    priority: int
    family: Family
    table: int
    fwmark: int | None = None
    fwmask: int | None = None
    src: str | None = None  # CIDR
    oif: str | None = None
    suppress_prefixlength: int | None = None
    dst: str | None = None  # CIDR

    def render(self) -> str:
        parts = [f"ip -{self.family} rule pref {self.priority}"]
        if self.src:
            parts.append(f"from {self.src}")
        if self.dst:
            parts.append(f"to {self.dst}")
        if self.fwmark is not None:
            mask = f"/{self.fwmask:#x}" if self.fwmask is not None else ""
            parts.append(f"fwmark {self.fwmark:#x}{mask}")
        if self.oif:
            parts.append(f"oif {self.oif}")
        parts.append("lookup main" if self.table == 254 else f"lookup {self.table}")
        if self.suppress_prefixlength is not None:
            parts.append(f"suppress_prefixlength {self.suppress_prefixlength}")
        return " ".join(parts)


@dataclass(frozen=True, order=True)
class Sysctl:
    """A sysctl value multiwan needs, by its /proc/sys path below /proc/sys."""

    key: str  # e.g. "net/ipv4/conf/eth1/rp_filter"
    value: str


@dataclass(frozen=True)
class NftDigests:
    """What identifies the content of multiwan's nft table, as stored in the kernel.

    The static digest sits in the table's comment, each dynamic chain's digest in the comment
    of its single rule, so the actual state is compared without parsing nft listings.
    """

    static: str
    dynamic: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NftState:
    """multiwan's nft table, split the way it changes.

    `static` is the table skeleton that depends only on the config (it carries its digest in
    the table comment); `dynamic` maps each small chain that link health and runtime control
    rewrite (policies, pins) to the text of its one rule (which carries its digest).
    """

    static: str
    digests: NftDigests
    dynamic: Mapping[str, str] = field(default_factory=dict)
    #: Sets other programs fill (rules' `dst_set`): a replaced table gets their elements back.
    kept_sets: tuple[str, ...] = ()


@dataclass(frozen=True)
class DesiredState:
    """Everything multiwan wants in the kernel."""

    nft: NftState
    routes: frozenset[Route]
    rules: frozenset[Rule]
    sysctls: frozenset[Sysctl]
    #: The part of `routes` that link health changes (the fallback table's and route
    #: policies' default routes): what the daemon's fast path compares and rewrites.
    dynamic_routes: frozenset[Route] = frozenset()


@dataclass(frozen=True)
class ActualState:
    """Everything multiwan owns as found in the kernel (nft is None: no table)."""

    nft: NftDigests | None
    routes: frozenset[Route]
    rules: frozenset[Rule]
    sysctls: frozenset[Sysctl]
