"""nft literal syntax shared by the renderers: every quoted string passes through `nft_string`.

nft's quoted strings have no escapes: a `"` ends the string and a newline ends the command,
so text carrying either would rewrite the script (a rule name could add a chain with an
`input` hook). The config admits no such value; `nft_string` refuses one as a bug instead of
rendering it.
"""

import re
from collections.abc import Iterable

#: nft refuses longer comments (NFTNL_UDATA_COMMENT_MAXLEN, counted in bytes).
COMMENT_MAX_BYTES = 128
#: Interface names: IFNAMSIZ (16) including the terminating NUL.
IFNAME_MAX_BYTES = 15
#: Chain, counter and other object names: NFT_NAME_MAXLEN (256) including the NUL.
NAME_MAX_BYTES = 255
#: What ends an nft quoted string or command: a quote, control characters, DEL.
_UNQUOTABLE = re.compile('["\x00-\x1f\x7f]')


def nft_set(items: Iterable[str]) -> str:
    """One element as itself, several as an anonymous set `{ a, b }`."""
    items = list(items)
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def nft_string(text: str, max_bytes: int = NAME_MAX_BYTES) -> str:
    """`text` as an nft quoted string; ValueError if nft cannot carry it unchanged."""
    if _UNQUOTABLE.search(text):
        raise ValueError(f"nft strings cannot hold quotes or control characters: {text!r}")
    if not 0 < len(text.encode()) <= max_bytes:
        raise ValueError(f"nft strings here take 1-{max_bytes} bytes: {text!r}")
    return f'"{text}"'


def nft_comment(text: str) -> str:
    """A rule's `comment "..."` clause."""
    return f"comment {nft_string(text, COMMENT_MAX_BYTES)}"
