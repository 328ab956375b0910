"""Dynamic chain rules: exact weighted intervals, last resorts."""

import pytest

from multiwan.core.nft import dynamic_rule, with_digest
from multiwan.core.strategy import Choice


def test_weights_become_exact_intervals_of_one_numgen_draw() -> None:
    rule = dynamic_rule(Choice((("a", 1), ("b", 2), ("c", 3))))
    assert rule == (
        "numgen random mod 6 vmap { 0 : goto mark_a, 1-2 : goto mark_b, 3-5 : goto mark_c }"
    )


def test_single_link_is_a_plain_goto() -> None:
    assert dynamic_rule(Choice((("a", 5),))) == "goto mark_a"


@pytest.mark.parametrize(
    ("resort", "rule"),
    [
        ("main", "goto mark_resort_main"),
        ("unreachable", "reject with icmpx admin-prohibited"),
        ("blackhole", "drop"),
        ("policy:p", "goto pol_p"),
    ],
)
def test_last_resorts(resort: str, rule: str) -> None:
    assert dynamic_rule(Choice((), resort)) == rule


def test_digest_changes_with_the_rule_and_is_stable() -> None:
    one, tag = with_digest("goto mark_a")
    assert one.endswith(f'comment "d={tag}"')
    assert with_digest("goto mark_a")[1] == tag != with_digest("goto mark_b")[1]
