"""nft literal syntax shared by the renderers."""

from collections.abc import Iterable


def nft_set(items: Iterable[str]) -> str:
    """One element as itself, several as an anonymous set `{ a, b }`."""
    items = list(items)
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"
