"""The bucket table of the `destination` and `source` strategies: exact shares, and only a
dead link's buckets move (and come back)."""

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from multiwan.core.buckets import BUCKETS, apportion, assign, ranges

MEMBERS = st.lists(st.integers(1, 1000), min_size=1, max_size=12).map(
    lambda weights: [(f"l{i}", w) for i, w in enumerate(weights)]
)


def counts(owners: tuple[str, ...]) -> dict[str, int]:
    found: dict[str, int] = {}
    for owner in owners:
        found[owner] = found.get(owner, 0) + 1
    return found


def test_apportion_is_exact_to_one_and_sums_to_the_total() -> None:
    assert apportion(256, [1, 2, 3]) == [43, 85, 128]
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]


@given(MEMBERS)
def test_with_every_member_live_each_share_is_within_one_bucket_of_its_weight(
    members: list[tuple[str, int]],
) -> None:
    owners = assign(members, {name for name, _ in members})
    total = sum(w for _, w in members)
    found = counts(owners)
    for name, weight in members:
        assert abs(found.get(name, 0) - Fraction(BUCKETS * weight, total)) < 1


@given(MEMBERS, st.data())
def test_only_the_dead_links_buckets_move_and_they_return(
    members: list[tuple[str, int]], data: st.DataObject
) -> None:
    names = [name for name, _ in members]
    live = set(data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True)))
    before = assign(members, live)
    dying = data.draw(st.sampled_from(sorted(live)))
    if live == {dying}:
        assert assign(members, set()) == ()
        return
    after = assign(members, live - {dying})
    for old, new in zip(before, after, strict=True):
        assert old in (new, dying)
        assert new != dying
    assert assign(members, live) == before  # it comes back: no hidden state


@given(MEMBERS, st.data())
def test_after_one_failure_shares_stay_within_two_buckets_of_the_weights(
    members: list[tuple[str, int]], data: st.DataObject
) -> None:
    """One level of redistribution adds at most one bucket of rounding."""
    names = [name for name, _ in members]
    if len(names) < 2:
        return
    dead = data.draw(st.sampled_from(names))
    owners = assign(members, set(names) - {dead})
    total = sum(w for name, w in members if name != dead)
    found = counts(owners)
    for name, weight in members:
        if name != dead:
            assert abs(found.get(name, 0) - Fraction(BUCKETS * weight, total)) < 2


def test_ranges_group_consecutive_buckets() -> None:
    assert ranges(("a", "a", "b", "a")) == [(0, 1, "a"), (2, 2, "b"), (3, 3, "a")]
