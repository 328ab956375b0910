"""Render multiwan's nft table: static chains from the config, small dynamic chains from health.

Static chains restore and set the conntrack mark and walk the rules; each policy (and each
link a rule pins to) gets a chain holding exactly one rule, the current weighted choice. Link
health, weights and mode only ever rewrite those one-rule chains (knftables: "chains tend to
have static rules and dynamic sets/maps"). Digests stored in rule comments let the reconciler
see what is loaded without parsing listings.

The skeleton holds every strategy's chains and sets for every policy, and a pin chain for
every link, whatever the config's strategies and default policy are: `multiwan mode` (a
policy, a link or a strategy) then only rewrites one-rule chains, never the table. Chains a
strategy does not use hold an inert `return` that nothing reaches.

Chain names never collide: a chain named from the config is a prefix and a config name
(`mark_`, `pin_`, `spread_` for links, `pol_` and `draw` for policies, `stick`/`keep` for
sticky ones, see core/sticky.py, `svc_` and `be_` for services, see core/services.py; 'main'
is no link's or policy's name, so `mark_main` is free), and the fixed chains (prerouting,
output, decide, default_via, postrouting, repick, settle, nat_*, guard_*) start with none of
these.
Config names are at most 31 characters, so every name is far below nft's 255 bytes.

Over 500 lines: the skeleton and each strategy's one-rule chain share the chain names and
mark statements defined here, and the daemon imports several of them from this module; the
strategies' own pieces that need none of them live apart (core/sticky.py, core/buckets.py,
core/services.py).
"""

import hashlib
import ipaddress
from collections.abc import Callable, Iterable, Mapping

from multiwan.config.schema import HELPERS, RESERVED_VIA, Config
from multiwan.config.schema import Rule as ConfigRule
from multiwan.core import services
from multiwan.core.buckets import ranges
from multiwan.core.links import ResolvedLink
from multiwan.core.model import Family, NftDigests, NftState
from multiwan.core.nftsyntax import IFNAME_MAX_BYTES, nft_comment, nft_set, nft_string
from multiwan.core.ownership import (
    NFT_FAMILY,
    NFT_TABLE,
    MarkSpace,
)
from multiwan.core.pools import seat_rule
from multiwan.core.routing import policy_indexes, unique_sources
from multiwan.core.sticky import keep_chain, keep_rule, static_lines, stick_chain
from multiwan.core.strategy import Choice

TABLE = f"{NFT_FAMILY} {NFT_TABLE}"
STATIC_TAG = "static="
DYNAMIC_TAG = "d="


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


FAMILIES: tuple[Family, ...] = (4, 6)
#: The chain that sends a policy's connections to main when it has no live link.
RESORT_CHAIN = "resort_main"


def policy_chain(name: str, family: Family | None = None) -> str:
    """`pol_<name>` dispatches by family to the one-rule chains `pol4_<name>`/`pol6_<name>`:
    each family chooses only among links that route it."""
    return f"pol{family or ''}_{name}"


def draw_chain(name: str, family: Family) -> str:
    """The weighted draw of a `sticky` policy (through its keep chains, which remember the
    choice) or of a `least-loaded` policy's newcomers (clients not seated yet)."""
    return f"draw{family}_{name}"


#: The one-rule chain the decide chain ends in: the default policy (or link) now.
DEFAULT_CHAIN = "default_via"


def pin_chain(link: str, family: Family | None = None) -> str:
    return f"pin{family or ''}_{link}"


def mark_chain(link: str) -> str:
    return f"mark_{link}"


def restore_chain(link: str) -> str:
    return f"restore_{link}"


def spread_chain(link: str) -> str:
    """Sends one packet of a `packet` policy's connection through `link`."""
    return f"spread_{link}"


#: Where each packet of a `packet` policy's connection is decided again.
REPICK_CHAIN = "repick"
#: Where a `route` policy's connection is pinned to the link the kernel picked.
SETTLE_CHAIN = "settle"


def new_counter(link: str) -> str:
    return f"new_{link}"


def rule_counter(index: int) -> str:
    """The named counter of `rules[index]`: new connections it matched (by position, as
    rule names are optional; a counter's name never meets a link's `new_` one)."""
    return f"rule_{index}"


def _ifname(interface: str) -> str:
    return nft_string(interface, IFNAME_MAX_BYTES)


def _unmarked(marks: MarkSpace) -> str:
    return f"ct mark & {marks.mask:#x} == 0"


def _set_mark(mark: int, marks: MarkSpace) -> str:
    return f"ct mark set ct mark & {marks.keep:#x} | {mark:#x}"


def _restore_mark(mark: int, marks: MarkSpace) -> str:
    """Copy our bits to the packet mark, keeping the bits other software set."""
    return f"meta mark set meta mark & {marks.keep:#x} | {mark:#x}"


def _marks(config: Config, links: list[ResolvedLink], marks: MarkSpace) -> list[tuple[str, int]]:
    """Every mark value multiwan gives a connection, with the label of its chains: links
    first, then policies (a `route` policy's mark selects its multipath table)."""
    return [
        *((link.name, link.mark) for link in links),
        *((name, marks.link(index)) for name, index in policy_indexes(config).items()),
        (RESERVED_VIA, marks.bypass),
        (RESORT_CHAIN, marks.last_resort),
    ]


def pinned_links(config: Config) -> list[str]:
    """Links that a rule's `via` (or the default policy in force) names directly."""
    pinned = {rule.via for rule in config.rules if rule.via in config.links}
    if config.default_policy in config.links:
        pinned.add(config.default_policy)
    return sorted(pinned)


def idle_pin_rules(config: Config) -> dict[str, str]:
    """The inert rule of each pin chain nothing goes to now; `mode <link>` gives one its
    choice by rewriting it, and health changes leave the others alone."""
    pinned = set(pinned_links(config))
    return {
        pin_chain(link, family): "return"
        for link in config.links
        if link not in pinned
        for family in FAMILIES
    }


def via_target(via: str, config: Config) -> str:
    """The chain a rule's `via` (or the default policy) jumps to."""
    if via == RESERVED_VIA:
        return mark_chain(RESERVED_VIA)
    return policy_chain(via) if via in config.policies else pin_chain(via)


def _rule_matches(rule: ConfigRule) -> list[str]:
    """nft match expressions for a config rule, one string per address family needed."""
    common = []
    if rule.iif:
        common.append(f"iifname {_ifname(rule.iif)}")
    ports = []
    if rule.sport:
        ports.append(("sport", rule.sport))
    if rule.dport:
        ports.append(("dport", rule.dport))
    if rule.proto and not ports:
        common.append(f"meta l4proto {rule.proto}")
    for key, values in ports:
        proto = rule.proto or "th"
        if proto == "th" and not any(c.startswith("meta l4proto") for c in common):
            common.append("meta l4proto { tcp, udp }")
        common.append(f"{proto} {key} {nft_set(str(v) for v in values)}")
    if not rule.src and not rule.dst and not rule.dst_set:
        return [" ".join(common)]
    matches = []
    for family in rule.families():
        keyword = "ip" if family == 4 else "ip6"
        parts = []
        for key, cidrs in (("saddr", rule.src), ("daddr", rule.dst)):
            of_family = [c for c in cidrs if (":" in c) == (family == 6)]
            if of_family:
                parts.append(f"{keyword} {key} {nft_set(of_family)}")
            elif cidrs:
                parts = []
                break
        if rule.dst_set and (parts or not rule.src):
            parts.append(f"{keyword} daddr @{dst_set(rule.dst_set, 4 if family == 4 else 6)}")
        if parts:
            matches.append(" ".join([*parts, *common]))
    return matches


def dst_set(name: str, family: Family) -> str:
    """The set of a rule's `dst_set` per family: `<name>_v4`, `<name>_v6` (other sets in
    the table end in a number, see core/sticky.py)."""
    return f"{name}_v{family}"


def kept_sets(config: Config) -> list[tuple[str, Family]]:
    """The sets rules match and other programs fill, with their family."""
    names = sorted({rule.dst_set for rule in config.rules if rule.dst_set})
    return [(dst_set(name, family), family) for name in names for family in FAMILIES]


def add_elements_script(name: str, elements: Iterable[str]) -> str:
    """Put `elements` (addresses read back from the kernel) into set `name` of the table;
    ValueError if one is not an address (nothing else may reach the script)."""
    addresses = [str(ipaddress.ip_address(element)) for element in elements]
    if not addresses:
        return ""
    return f"add element {TABLE} {name} {{ {', '.join(addresses)} }}\n"


#: The seed of the address hash: fixed, so a reload or restart keeps each address's bucket.
HASH_SEED = 0x6D77616E
#: The expression each strategy draws its vmap key from (`{ip}`: the family's keyword).
DRAWS = {
    "balance": "numgen random mod {total}",
    "sticky": "numgen random mod {total}",  # the draw of a key not seen recently
    "packet": "numgen inc mod {total}",  # every packet: in turn by weight (no bursts)
    "route": "numgen random mod {total}",  # not rendered: strategy_rules marks for the table
    "round-robin": "numgen inc mod {total}",
    "least-loaded": "numgen random mod {total}",  # newcomers (seated clients: core/pools.py)
    "destination": "jhash {ip} daddr mod {total} seed {seed:#x}",
    "source": "jhash {ip} saddr mod {total} seed {seed:#x}",
}


def _intervals(runs: Iterable[tuple[int, int, str]], target: Callable[[str], str]) -> str:
    """`0 : goto mark_a, 1-2 : goto mark_b` for (first, last, link) runs."""
    return ", ".join(
        f"{low if high == low else f'{low}-{high}'} : goto {target(link)}"
        for low, high, link in runs
    )


def _weighted_runs(shares: Iterable[tuple[str, int]]) -> list[tuple[int, int, str]]:
    runs, low = [], 0
    for link, weight in shares:
        runs.append((low, low + weight - 1, link))
        low += weight
    return runs


def dynamic_rule(
    choice: Choice, family: Family = 4, target: Callable[[str], str] = mark_chain
) -> str:
    """The one rule of a policy or pin chain (of `family`), without its digest comment;
    `target` names the chain a chosen link's connections go to."""
    if len(choice.shares) == 1:
        return f"goto {target(choice.shares[0][0])}"
    if choice.shares:
        if choice.buckets:
            total, runs = len(choice.buckets), ranges(choice.buckets)
        else:
            total, runs = sum(w for _, w in choice.shares), _weighted_runs(choice.shares)
        draw = DRAWS[choice.strategy].format(
            total=total, ip="ip" if family == 4 else "ip6", seed=HASH_SEED
        )
        return f"{draw} vmap {{ {_intervals(runs, target)} }}"
    resort = choice.last_resort
    if resort.startswith("policy:"):
        return f"goto {policy_chain(resort.removeprefix('policy:'))}"
    if resort == "unreachable":
        return "reject with icmpx admin-prohibited"
    if resort == "blackhole":
        return "drop"
    return f"goto {mark_chain(RESORT_CHAIN)}"


def strategy_rules(
    config: Config, choices: Mapping[Family, Mapping[str, Choice]]
) -> dict[str, str]:
    """The one-rule chains of every policy whose choice does more than mark a connection for
    a link, and the inert `return` of every strategy chain a policy does not use now.

    `packet` marks packets (spread chains); `route` marks for its own table; `sticky` looks
    its sets up first (stick chains), then draws through its keep chains, which remember the
    choice (core/sticky.py); `least-loaded` sends seated clients to their link and the others
    to a weighted draw (core/pools.py)."""
    index = config.link_ids()
    rules = {}
    for name, policy in config.policies.items():
        for family in FAMILIES:
            chain, choice = policy_chain(name, family), choices[family][policy_chain(name, family)]
            draw, keeps = draw_chain(name, family), {}
            rules[draw] = "return"
            if policy.strategy == "packet":
                rules[chain] = dynamic_rule(choice, family, spread_chain)
            elif policy.strategy == "route" and choice.shares:
                # One mark for the policy: its table's multipath route picks the link.
                rules[chain] = f"goto {mark_chain(name)}"
            elif policy.strategy == "sticky":
                chosen = {link for link, _ in choice.shares}
                keeps = {link: keep_chain(name, family, index[link]) for link in chosen}
                rules[chain] = f"goto {stick_chain(name, family)}"
                rules[draw] = dynamic_rule(choice, family, keeps.__getitem__)
            elif policy.strategy == "least-loaded":
                rules[chain] = seat_rule(choice.seats, family, draw, mark_chain)
                rules[draw] = dynamic_rule(choice, family)  # draws ignore seats
            for member in policy.members():
                keep = keep_chain(name, family, index[member.link])
                if policy.strategy != "sticky":
                    rules[keep] = "return"
                else:
                    mark = mark_chain(member.link) if member.link in keeps else None
                    rules[keep] = keep_rule(name, policy, family, index[member.link], mark)
    return rules


def _policy_lines(config: Config, marks: MarkSpace) -> list[str]:
    """Each policy's dispatch by family, and the sets and lookup chains `sticky` needs."""
    index = config.link_ids()
    lines = []
    for name, policy in config.policies.items():
        lines.append(_dispatch(name, policy_chain))
        lines += static_lines(
            name,
            policy,
            (index[member.link] for member in policy.members()),
            FAMILIES,
            _unmarked(marks),
            {family: draw_chain(name, family) for family in FAMILIES},
        )
    return lines


def with_digest(rule: str) -> tuple[str, str]:
    """A dynamic rule with its digest in its comment, and that digest."""
    tag = digest(rule)
    return f"{rule} {nft_comment(DYNAMIC_TAG + tag)}", tag


#: The one-rule chains that pin local sockets bound to a link's address to that link.
PIN_CHAINS: dict[Family, str] = {4: "pins4", 6: "pins6"}


def source_pin_rules(links: Iterable[ResolvedLink]) -> dict[str, str]:
    """Local sockets bound to a link's own address leave by that link: a tunnel endpoint
    with `local <address>` or `ping -I <address>` is never balanced elsewhere. Addresses
    come and go with DHCP and hot-plug, so the pins are dynamic chains, not table text."""
    unique = unique_sources(link for link in links if link.routable)
    rules = {}
    for family, chain in PIN_CHAINS.items():
        pins = [
            f"{address} : jump {mark_chain(link.name)}"
            for address, link in sorted(unique.items())
            if (addr := link.addressing(family)) is not None and addr.source == address
        ]
        keyword = "ip" if family == 4 else "ip6"
        rules[chain] = f"{keyword} saddr vmap {{ {', '.join(pins)} }}" if pins else "return"
    return rules


def _output_pins(config: Config, marks: MarkSpace) -> list[str]:
    """Rules that send a destination to a link decide first for it (the kernel picked the
    first modem's address for the second modem's 192.168.1.1 from main's connected route);
    then the source pins."""
    unmarked = _unmarked(marks)
    lines = []
    for keyword, family in (("ip", 4), ("ip6", 6)):
        steered = sorted(
            {
                cidr
                for rule in config.rules
                if rule.via in config.links
                for cidr in rule.dst
                if (":" in cidr) == (family == 6)
            }
        )
        if steered:
            lines.append(
                f"\t\tct state new {unmarked} {keyword} daddr {nft_set(steered)} jump decide"
            )
    targets = ", ".join(f"ipv{family} : jump {chain}" for family, chain in PIN_CHAINS.items())
    lines.append(f"\t\tct state new {unmarked} meta nfproto vmap {{ {targets} }}")
    return lines


def _hook_chain(
    name: str, hook: str, config: Config, links: list[ResolvedLink], marks: MarkSpace
) -> list[str]:
    unmarked = _unmarked(marks)
    lines = [f"\tchain {name} {{", f"\t\ttype filter hook {hook} priority mangle; policy accept;"]
    for helper in config.conntrack_helpers:
        proto, port = HELPERS[helper]
        lines.append(
            f"\t\tct state new {proto} dport {port} ct helper set {nft_string(f'mw-{helper}')}"
        )
    if hook == "output":
        # Sockets that chose their link themselves (probes set SO_MARK) are left alone.
        lines.append(f"\t\tmeta mark & {marks.mask:#x} != 0 return")
        lines += _output_pins(config, marks)
    else:
        # Connections that arrive on an uplink are answered through it.
        uplinks = [f"{_ifname(link.interface)} : jump {mark_chain(link.name)}" for link in links]
        lines.append(f"\t\tct state new {unmarked} iifname vmap {{ {', '.join(uplinks)} }}")
    lines += [
        # Only unicast to elsewhere is balanced: not the router's own addresses, broadcast,
        # multicast (IPv6 neighbour discovery, MLD) or link-local peers.
        f"\t\tct state new {unmarked} fib daddr type != unicast return",
        f"\t\tct state new {unmarked} ip6 daddr fe80::/10 return",
        f"\t\tct state new {unmarked} jump decide",
        f"\t\tct mark & {marks.mask:#x} vmap {{ {_restore_map(config, links, marks)} }}",
        "\t}",
    ]
    if hook == "output":
        lines[1] = "\t\ttype route hook output priority mangle; policy accept;"
    return lines


def _final_line(config: Config, tag: str) -> str:
    """The decide chain's last rule, with the static digest in its comment when given."""
    # Services only: nothing is routed and nothing jumps to decide.
    final = f"goto {DEFAULT_CHAIN}" if config.links else "return"
    return f"\t\t{final} {nft_comment(STATIC_TAG + tag)}" if tag else f"\t\t{final}"


def default_rule(config: Config) -> dict[str, str]:
    """The default chain's rule: to the default policy, or link, in force now."""
    if config.default_policy is None:
        return {}  # services only
    return {DEFAULT_CHAIN: f"goto {via_target(config.default_policy, config)}"}


def _services_only(config: Config, dynamic_chains: Iterable[str], tag: str) -> str:
    """A box without links: service DNAT only; no marks, balancing or masquerade."""
    lines = [f"table {TABLE} {{", "\tchain decide {", _final_line(config, tag), "\t}"]
    lines += [f"\tchain {chain} {{ }}" for chain in sorted(dynamic_chains)]
    lines += services.static_lines(config.services)
    if snat := services.snat_lines(config.services):
        hook = "\t\ttype nat hook postrouting priority srcnat; policy accept;"
        lines += ["\tchain postrouting {", hook, *snat, "\t}"]
    return "\n".join([*lines, "}"]) + "\n"


def _restore_map(config: Config, links: list[ResolvedLink], marks: MarkSpace) -> str:
    targets = [
        f"{mark:#x} : goto {restore_chain(label)}" for label, mark in _marks(config, links, marks)
    ]
    targets.append(f"{marks.per_packet:#x} : goto {REPICK_CHAIN}")
    return ", ".join(targets)


def _per_packet_lines(links: list[ResolvedLink], marks: MarkSpace) -> list[str]:
    """A `packet` policy's choice marks the packet for a link and the connection as
    decided per packet (no link pinned); `repick` decides each later packet again: replies
    by the uplink they came in on (the reverse-path check then finds their link's table),
    the original direction through the rules and the policy's draw."""
    lines = [
        f"	chain {spread_chain(link.name)} {{ {_set_mark(marks.per_packet, marks)} "
        f"{_restore_mark(link.mark, marks)}; }}"
        for link in links
    ]
    uplinks = [f"{_ifname(link.interface)} : goto {restore_chain(link.name)}" for link in links]
    return [
        *lines,
        f"	chain {REPICK_CHAIN} {{",
        f"		meta mark & {marks.mask:#x} != 0 return",  # this packet was just decided
        f"		ct direction reply iifname vmap {{ {', '.join(uplinks)} }}",
        "		ct direction original goto decide",
        "	}",
    ]


def _settle_lines(config: Config, links: list[ResolvedLink], marks: MarkSpace) -> list[str]:
    """A connection a `route` policy sent (it carries the policy's mark) is marked for the
    link its first packet leaves by. The kernel's multipath hash picks that link once; a
    changed group (a link drained or dead) re-partitions the hash space, and without the pin
    established flows of healthy links would move to another link and NAT address, while
    the dead link's flows would keep a mark no flush looks for."""
    policy_marks = [f"{marks.link(index):#x}" for index in policy_indexes(config).values()]
    if not policy_marks:
        return []
    uplinks = [f"{_ifname(link.interface)} : goto {mark_chain(link.name)}" for link in links]
    return [
        f"\tchain {SETTLE_CHAIN} {{",
        "\t\ttype filter hook postrouting priority mangle; policy accept;",
        f"\t\tct mark & {marks.mask:#x} {nft_set(policy_marks)} "
        f"oifname vmap {{ {', '.join(uplinks)} }}",
        "\t}",
    ]


def _dispatch(name: str, chain: Callable[[str, Family | None], str]) -> str:
    """A static chain that sends each family to its own one-rule chain."""
    targets = ", ".join(f"ipv{family} : goto {chain(name, family)}" for family in FAMILIES)
    return f"\tchain {chain(name, None)} {{ meta nfproto vmap {{ {targets} }}; }}"


def render_static(
    config: Config, links: list[ResolvedLink], dynamic_chains: Iterable[str], tag: str = ""
) -> str:
    """The table skeleton: everything that depends only on the config (and link devices).

    `tag`, the digest of the skeleton rendered without one, rides in a comment on the decide
    chain's last rule (nft 1.0.6 JSON listings drop table comments but keep rule comments).
    """
    if not config.links:
        return _services_only(config, dynamic_chains, tag)
    lines = [f"table {TABLE} {{"]
    lines += [f"\tcounter {new_counter(link.name)} {{ }}" for link in links]
    lines += [
        f"\tset {name} {{ type {'ipv4_addr' if family == 4 else 'ipv6_addr'}; }}"
        for name, family in kept_sets(config)
    ]
    lines += [f"\tcounter {rule_counter(index)} {{ }}" for index in range(len(config.rules))]
    for helper in config.conntrack_helpers:
        proto, _ = HELPERS[helper]
        lines.append(f"\tct helper mw-{helper} {{ type {nft_string(helper)} protocol {proto}; }}")
    marks = MarkSpace(config.mark_mask)
    lines += _hook_chain("prerouting", "prerouting", config, links, marks)
    lines += _hook_chain("output", "output", config, links, marks)
    lines.append("\tchain decide {")
    for index, rule in enumerate(config.rules):
        comment = nft_comment(rule.name or f"rules[{index}]")
        target = via_target(rule.via, config)
        count = f"counter name {nft_string(rule_counter(index))}"
        log = f"log prefix {nft_string(rule.log)}" if rule.log else ""
        for match in _rule_matches(rule):
            parts = [match, count, log, "goto", target, comment]
            lines.append("\t\t" + " ".join(filter(None, parts)))
    lines.append(_final_line(config, tag))
    lines.append("\t}")
    for link in links:
        body = f"counter name {nft_string(new_counter(link.name))} {_set_mark(link.mark, marks)}"
        lines.append(f"\tchain {mark_chain(link.name)} {{ {body}; }}")
    for label, mark in _marks(config, links, marks)[len(links) :]:
        lines.append(f"\tchain {mark_chain(label)} {{ {_set_mark(mark, marks)}; }}")
    for label, mark in _marks(config, links, marks):
        lines.append(f"\tchain {restore_chain(label)} {{ {_restore_mark(mark, marks)}; }}")
    lines += _per_packet_lines(links, marks)
    lines += _settle_lines(config, links, marks)
    lines += _policy_lines(config, marks)
    lines += [_dispatch(name, pin_chain) for name in config.links]
    lines += [f"\tchain {chain} {{ }}" for chain in sorted(dynamic_chains)]
    lines += services.static_lines(config.services)
    masquerade = {
        family: [_ifname(link.interface) for link in links if link.masquerades(family)]
        for family in FAMILIES
    }
    lines += [
        "\tchain postrouting {",
        "\t\ttype nat hook postrouting priority srcnat; policy accept;",
        *services.snat_lines(config.services),
    ]
    for family, interfaces in masquerade.items():
        if interfaces:
            lines.append(f"\t\tmeta nfproto ipv{family} oifname {nft_set(interfaces)} masquerade")
    lines += ["\t}", "}"]
    return "\n".join(lines) + "\n"


def build_nft(config: Config, links: list[ResolvedLink], rules: Mapping[str, str]) -> NftState:
    """The whole desired table: static skeleton plus the given rule of each dynamic chain."""
    static_tag = digest(render_static(config, links, rules))
    static = render_static(config, links, rules, static_tag)
    dynamic, tags = {}, {}
    for chain, rule in sorted(rules.items()):
        dynamic[chain], tags[chain] = with_digest(rule)
    kept = tuple(name for name, _ in kept_sets(config))
    return NftState(static, NftDigests(static_tag, tags), dynamic, kept)


def full_script(state: NftState) -> str:
    """One transaction that replaces the table (creating it first if absent)."""
    parts = [f"table {TABLE}", f"delete table {TABLE}", state.static.rstrip("\n")]
    parts += [f"add rule {TABLE} {chain} {rule}" for chain, rule in state.dynamic.items()]
    return "\n".join(parts) + "\n"


def dynamic_script(rules: Mapping[str, str], chains: Iterable[str]) -> str:
    """One transaction that rewrites only the given one-rule chains (`rules` as
    `with_digest` made them)."""
    parts = []
    for chain in chains:
        parts += [f"flush chain {TABLE} {chain}", f"add rule {TABLE} {chain} {rules[chain]}"]
    return "\n".join(parts) + "\n"


def delete_script() -> str:
    return f"delete table {TABLE}\n"
