"""The sticky strategy's nft: a live member refreshes and marks, any other forgets the key."""

from multiwan.config.schema import Policy
from multiwan.core.sticky import keep_chain, keep_rule, static_lines


def test_a_chosen_link_refreshes_the_entry_and_marks_and_another_forgets_it() -> None:
    policy = Policy(strategy="sticky", links=["a"])
    assert keep_rule("p", policy, 4, 1, "mark_a") == (
        "update @sticky4_p_1 { ip saddr } goto mark_a"
    )
    assert keep_rule("p", policy, 6, 1, None) == "delete @sticky6_p_1 { ip6 saddr }"


def test_source_destination_keys_pairs_and_timeout() -> None:
    policy = Policy(
        strategy="sticky", links=["a"], sticky_key="source-destination", sticky_timeout=30
    )
    lines = static_lines("p", policy, [3], [6], "ct mark & 0xff00 == 0", {6: "pol6_p"})
    assert lines == [
        "\tset sticky6_p_3 { type ipv6_addr . ipv6_addr; flags dynamic,timeout; timeout 30s; }",
        "\tchain stick6_p {",
        "\t\tct mark & 0xff00 == 0 ip6 saddr . ip6 daddr @sticky6_p_3 jump keep6_p_3",
        "\t\tct mark & 0xff00 == 0 goto pol6_p",
        "\t}",
    ]


def test_names_end_in_the_link_index_so_policies_never_share_one() -> None:
    assert keep_chain("a_b", 4, 1) != keep_chain("a", 4, 1)
    assert keep_chain("a_1", 4, 2) == "keep4_a_1_2"
