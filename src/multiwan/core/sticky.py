"""The `sticky` strategy in nft: a new connection from a source seen in the last
`sticky_timeout` seconds (optionally: the same source and destination) reuses that link.

Static, per policy and family: one dynamic set per member link holding the keys (source, or
source . destination) that chose it, with a timeout; a chain `stick<f>_<policy>` that looks
the key up in each member's set, then falls to the weighted choice `pol<f>_<policy>`. Dynamic,
per member link, one rule in `keep<f>_<policy>_<index>`: while the link is in the policy's
choice, refresh the key's entry (every new connection that uses it) and mark for the link;
otherwise delete the entry and return, so a dead or left link's entries are never reused and
the connection takes a fresh weighted choice. The weighted choice goes through the same keep
chains, which add the key. Health changes rewrite only one-rule chains, as for every strategy.

Names: the link's index follows the last '_', so `keep4_a_b_1` can only be policy `a_b`'s
link 1 (a link index is a number); the prefixes are apart from every other chain (core/nft.py).
"""

from collections.abc import Iterable

from multiwan.config.schema import Policy
from multiwan.core.model import Family


def stick_chain(policy: str, family: Family) -> str:
    return f"stick{family}_{policy}"


def keep_chain(policy: str, family: Family, index: int) -> str:
    return f"keep{family}_{policy}_{index}"


def sticky_set(policy: str, family: Family, index: int) -> str:
    return f"sticky{family}_{policy}_{index}"


def _key(policy: Policy, family: Family) -> tuple[str, str]:
    """The set key expression and its type."""
    ip, kind = ("ip", "ipv4_addr") if family == 4 else ("ip6", "ipv6_addr")
    if policy.sticky_key == "source-destination":
        return f"{ip} saddr . {ip} daddr", f"{kind} . {kind}"
    return f"{ip} saddr", kind


def static_lines(
    name: str,
    policy: Policy,
    indexes: Iterable[int],
    families: Iterable[Family],
    unmarked: str,
    choice: dict[Family, str],
) -> list[str]:
    """Sets and lookup chains of sticky policy `name`; `indexes` of its member links in
    member order, `unmarked` the match of a connection without a link yet, `choice` the
    weighted choice chain per family."""
    indexes = list(indexes)
    lines = []
    for family in families:
        key, kind = _key(policy, family)
        for index in indexes:
            lines.append(
                f"\tset {sticky_set(name, family, index)} {{ type {kind}; flags dynamic,timeout; "
                f"timeout {policy.sticky_timeout}s; }}"
            )
        lines.append(f"\tchain {stick_chain(name, family)} {{")
        # A keep chain that marked the connection returns here: the guard ends the lookup.
        lines += [
            f"\t\t{unmarked} {key} @{sticky_set(name, family, index)} "
            f"jump {keep_chain(name, family, index)}"
            for index in indexes
        ]
        lines += [f"\t\t{unmarked} goto {choice[family]}", "\t}"]
    return lines


def keep_rule(name: str, policy: Policy, family: Family, index: int, mark: str | None) -> str:
    """The one rule of a keep chain: refresh and mark for the link (`mark`, its mark chain),
    or, when the link takes no new connections now, forget the key and return."""
    key, _ = _key(policy, family)
    entry = f"@{sticky_set(name, family, index)} {{ {key} }}"
    return f"update {entry} goto {mark}" if mark else f"delete {entry}"
