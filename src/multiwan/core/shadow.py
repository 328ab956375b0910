"""Whether one rule matches every connection another does (for `check`'s shadowed-rule
warning). Conservative: "covers" is answered yes only when it is certain, so a warning is
never wrong; port lists are compared range by range, not as unions."""

import ipaddress
from collections.abc import Sequence

from multiwan.config.schema import Rule

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
EVERYWHERE: dict[int, Net] = {
    4: ipaddress.ip_network("0.0.0.0/0"),
    6: ipaddress.ip_network("::/0"),
}


def _nets(cidrs: Sequence[str], family: int) -> list[Net]:
    """A rule's networks of `family`; no list at all means everywhere."""
    if not cidrs:
        return [EVERYWHERE[family]]
    return [n for n in map(ipaddress.ip_network, cidrs) if n.version == family]


def _nets_cover(wide: Sequence[str], narrow: Sequence[str], family: int) -> bool:
    outer = _nets(wide, family)
    return all(
        any(inner.subnet_of(o) for o in outer if o.version == inner.version)  # type: ignore[arg-type]
        for inner in _nets(narrow, family)
    )


def _range(spec: int | str) -> tuple[int, int]:
    low, _, high = str(spec).partition("-")
    return int(low), int(high or low)


def _ports_cover(wide: Sequence[int | str], narrow: Sequence[int | str]) -> bool:
    if not wide:
        return True
    if not narrow:
        return False
    outer = [_range(s) for s in wide]
    return all(any(lo <= a and b <= hi for lo, hi in outer) for a, b in map(_range, narrow))


def _protocols(rule: Rule) -> set[str]:
    """The protocols a rule can match ('*' for any)."""
    if rule.proto:
        return {rule.proto}
    return {"tcp", "udp"} if rule.sport or rule.dport else {"*"}


def covers(wide: Rule, narrow: Rule) -> bool:
    """Every connection `narrow` matches, `wide` matches too."""
    if wide.iif is not None and wide.iif != narrow.iif:
        return False
    protocols = _protocols(wide)
    if "*" not in protocols and not _protocols(narrow) <= protocols:
        return False
    if not (_ports_cover(wide.sport, narrow.sport) and _ports_cover(wide.dport, narrow.dport)):
        return False
    families = narrow.families()
    if not set(families) <= set(wide.families()):
        return False
    return all(
        _nets_cover(wide.src, narrow.src, f) and _nets_cover(wide.dst, narrow.dst, f)
        for f in families
    )


def shadowed_by(earlier: Sequence[Rule], rule: Rule) -> int | None:
    """The index of the first of `earlier` that matches everything `rule` does."""
    return next((i for i, wide in enumerate(earlier) if covers(wide, rule)), None)
