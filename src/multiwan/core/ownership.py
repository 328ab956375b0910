"""Everything multiwan owns in the kernel, declared once.

Readers filter by these values and writers only ever touch them: the nft table, the routing
table ids, the `ip rule` priority range, the route protocol tag and the mark bits. `flush`
removes exactly this and nothing else.
"""

from dataclasses import dataclass
from typing import Final

NFT_FAMILY: Final = "inet"
NFT_TABLE: Final = "multiwan"

#: Routing table of the link with index i (1-based) is TABLE_BASE + i.
TABLE_BASE: Final = 7700
MAX_LINKS: Final = 250
#: The router's own unmarked lookups (source address selection of its sockets): a default
#: route over the default policy's live links, so the router never picks a dead link.
TABLE_FALLBACK: Final = TABLE_BASE

#: `ip rule` priorities multiwan owns: [RULE_PRIO_FIRST, RULE_PRIO_LAST].
RULE_PRIO_FIRST: Final = 7700
RULE_PRIO_LAST: Final = 7799
#: `to <dst> fwmark <link> lookup <link table>`: a rule's `via = <link>` for a destination
#: inside an uplink's connected subnet (the second of several modems at 192.168.1.1) must
#: win over main's connected route, so it sits before PRIO_MAIN_SPECIFIC.
PRIO_STEER: Final = 7700
#: `lookup main suppress_prefixlength 0`: local and more specific routes win over balancing.
PRIO_MAIN_SPECIFIC: Final = 7705
#: `fwmark <link mark>/MARK_MASK lookup <link table>`: the balancing decision.
PRIO_FWMARK: Final = 7710
#: `from <link source> lookup <link table>`: traffic bound to a link's address leaves by it.
PRIO_SOURCE: Final = 7720
#: `oif <link device> lookup <link table>`: sockets bound to a device (probes, ping -I).
PRIO_OIF: Final = 7730
#: `fwmark 0/MARK_MASK lookup TABLE_FALLBACK`: unmarked lookups (a local socket choosing its
#: source) use the live links even when main has no default route or one via a dead link.
PRIO_FALLBACK: Final = 7790

#: Protocol tag on every route (rtm_protocol) and `ip rule` (FRA_PROTOCOL) multiwan installs;
#: only objects carrying it are read as multiwan's, so foreign rules in the range survive.
ROUTE_PROTO: Final = 77

#: Bits of the packet and conntrack mark multiwan owns by default (`mark_mask` in the
#: config moves them); the link index lives there.
MARK_MASK: Final = 0xFF00
#: Marks other software commonly sets, for `check` to warn about overlaps with `mark_mask`.
KNOWN_MARKS: Final = {
    "kube-proxy (0x4000 masquerade, 0x8000 drop)": 0xC000,
    "Cilium (0x0f00 magic marks)": 0x0F00,
    "Tailscale (0xff0000)": 0xFF0000,
    "wg-quick (fwmark 51820 = 0xca6c)": 0xCA6C,
    "Calico (0xffff0000)": 0xFFFF0000,
}


@dataclass(frozen=True)
class MarkSpace:
    """The mark bits multiwan owns and the values it gives connections within them: a
    link's index, two reserved values that route by main, and one for per-packet choice."""

    mask: int = MARK_MASK

    @property
    def shift(self) -> int:
        return (self.mask & -self.mask).bit_length() - 1

    @property
    def keep(self) -> int:
        """The bits that belong to other software."""
        return ~self.mask & 0xFFFFFFFF

    def link(self, index: int) -> int:
        return index << self.shift

    @property
    def bypass(self) -> int:
        """Pinned to the main table by a rule's `via = "main"`."""
        return 0xFE << self.shift

    @property
    def per_packet(self) -> int:
        """Chosen by a `packet` policy: each packet takes a link of its own, so the
        connection carries this value and every packet is decided again."""
        return 0xFC << self.shift

    @property
    def last_resort(self) -> int:
        """Sent to main because its policy had no live link (`last_resort = "main"`):
        routed like `bypass`, but flushed when a link returns so it moves back."""
        return 0xFD << self.shift


def link_table(index: int) -> int:
    """Routing table id of the link with 1-based `index`."""
    return TABLE_BASE + index


def owns_table(table: int) -> bool:
    return TABLE_BASE <= table <= TABLE_BASE + MAX_LINKS


def owns_rule_priority(priority: int) -> bool:
    return RULE_PRIO_FIRST <= priority <= RULE_PRIO_LAST


#: The mark space of a config that leaves `mark_mask` out.
DEFAULT_MARKS: Final = MarkSpace()
