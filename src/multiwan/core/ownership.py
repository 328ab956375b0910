"""Everything multiwan owns in the kernel, declared once.

Readers filter by these values and writers only ever touch them: the nft table, the routing
table ids, the `ip rule` priority range, the route protocol tag and the mark bits. `flush`
removes exactly this and nothing else.
"""

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

#: Bits of the packet and conntrack mark multiwan owns; the link index lives here.
MARK_MASK: Final = 0xFF00
MARK_SHIFT: Final = 8
#: Connection pinned to the main routing table by a rule's `via = "main"`.
MARK_BYPASS: Final = 0xFE00
#: Connection sent to the main table because its policy had no live link (`last_resort =
#: "main"`): routed like MARK_BYPASS, but flushed when a link returns so it moves back.
MARK_LAST_RESORT: Final = 0xFD00


def link_table(index: int) -> int:
    """Routing table id of the link with 1-based `index`."""
    return TABLE_BASE + index


def link_mark(index: int) -> int:
    """Mark value (within MARK_MASK) of the link with 1-based `index`."""
    return index << MARK_SHIFT


def owns_table(table: int) -> bool:
    return TABLE_BASE <= table <= TABLE_BASE + MAX_LINKS


def owns_rule_priority(priority: int) -> bool:
    return RULE_PRIO_FIRST <= priority <= RULE_PRIO_LAST
