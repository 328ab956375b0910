"""Consistent hashing for the `destination` and `source` strategies: a fixed table of
buckets (the hash of an address modulo `BUCKETS`) assigned to links by weight.

Each bucket has a fixed order of preference over the policy's members, and goes to the first
live one. The orders come from splitting the table by weight, then splitting each link's
share by weight among the others, and so on: so with every member live the shares are exact
(to a bucket), a dead link's buckets are spread over the others by weight, and no other
bucket moves; when it returns they all come back. The assignment depends only on the members,
their weights and the live set, so a restarted daemon computes the same one (no state).
"""

from collections.abc import Sequence, Set

#: Buckets per policy: enough that a share is within half a percent of its weight.
BUCKETS = 256


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split by `weights` (largest remainders, ties to the earlier one): each part
    is within one of its exact share."""
    whole = sum(weights)
    parts = [total * weight // whole for weight in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in remainders[: total - sum(parts)]:
        parts[i] += 1
    return parts


def assign(
    members: Sequence[tuple[str, int]], live: Set[str], size: int = BUCKETS
) -> tuple[str, ...]:
    """The link of each bucket: `members` (name, weight) in preference order, `live` the
    names that take traffic. Empty when no member is live."""
    if not live & {name for name, _ in members}:
        return ()
    owners: list[str] = [""] * size
    _fill(range(size), list(members), live, owners)
    return tuple(owners)


def _fill(
    buckets: Sequence[int], members: list[tuple[str, int]], live: Set[str], owners: list[str]
) -> None:
    """Split `buckets` over `members` by weight; a dead member's part is split again over
    the rest. Work descends only into dead members' parts."""
    start = 0
    for (name, _), count in zip(
        members, apportion(len(buckets), [w for _, w in members]), strict=True
    ):
        part = buckets[start : start + count]
        start += count
        if name in live:
            for bucket in part:
                owners[bucket] = name
        elif part:
            _fill(part, [m for m in members if m[0] != name], live, owners)


def ranges(owners: Sequence[str]) -> list[tuple[int, int, str]]:
    """Runs of consecutive buckets with one owner, as (first, last, owner)."""
    runs: list[tuple[int, int, str]] = []
    for bucket, owner in enumerate(owners):
        if runs and runs[-1][2] == owner:
            runs[-1] = (runs[-1][0], bucket, owner)
        else:
            runs.append((bucket, bucket, owner))
    return runs
