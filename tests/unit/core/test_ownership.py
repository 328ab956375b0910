"""What multiwan reads as its own: exactly its table-id and rule-priority ranges, ends
included, and nothing next to them (another program's tables and rules survive a flush)."""

from multiwan.core.ownership import (
    MAX_LINKS,
    RULE_PRIO_FIRST,
    RULE_PRIO_LAST,
    TABLE_BASE,
    TABLE_FALLBACK,
    link_table,
    owns_rule_priority,
    owns_table,
)


def test_owned_tables_are_the_fallback_and_one_per_link() -> None:
    assert owns_table(TABLE_FALLBACK)
    assert owns_table(link_table(1))
    assert owns_table(link_table(MAX_LINKS))
    assert link_table(MAX_LINKS) == TABLE_BASE + MAX_LINKS
    assert not owns_table(TABLE_BASE - 1)
    assert not owns_table(link_table(MAX_LINKS) + 1)
    assert not owns_table(254)


def test_owned_rule_priorities_are_the_declared_range() -> None:
    assert owns_rule_priority(RULE_PRIO_FIRST)
    assert owns_rule_priority(RULE_PRIO_LAST)
    assert not owns_rule_priority(RULE_PRIO_FIRST - 1)
    assert not owns_rule_priority(RULE_PRIO_LAST + 1)
    assert not owns_rule_priority(32766)
