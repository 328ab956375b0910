"""Plans: the daemon's fast path rewrites only what changed, and `flush` removes exactly what
multiwan owns and puts back the sysctls it found."""

from multiwan.core.model import ActualState, DesiredState, NftDigests, NftState, Route, Rule, Sysctl
from multiwan.core.nft import TABLE, dynamic_script, with_digest
from multiwan.core.ownership import TABLE_FALLBACK
from multiwan.core.plan import Plan, SysctlChange, diff, dynamic_plan, flush_plan

VIA_A = Route(TABLE_FALLBACK, 4, "default", "wan1", "100.64.1.1")
VIA_B = Route(TABLE_FALLBACK, 4, "default", "wan2", "100.64.2.1")
LINK_TABLE = Route(TABLE_FALLBACK + 1, 4, "default", "wan1", "100.64.1.1")
RULES = {"pol4_all": "goto mark_a", "pins4": "return"}


def _applied(rules: dict[str, str]) -> dict[str, str]:
    return {chain: with_digest(rule)[1] for chain, rule in rules.items()}


def test_the_fast_path_rewrites_only_chains_whose_rule_changed() -> None:
    changed = {**RULES, "pol4_all": "goto mark_b"}
    plan, digests = dynamic_plan(changed, frozenset({VIA_A}), _applied(RULES), frozenset({VIA_A}))
    assert digests == _applied(changed)
    tagged = {chain: with_digest(rule)[0] for chain, rule in changed.items()}
    assert plan.nft_script == dynamic_script(tagged, ["pol4_all"])
    assert plan.nft_summary == "update pol4_all"
    assert (plan.route_adds, plan.route_deletes) == ((), ())


def test_the_fast_path_names_every_stale_chain_in_order() -> None:
    plan, _ = dynamic_plan(RULES, frozenset(), {}, frozenset())
    assert plan.nft_summary == "update pins4, pol4_all"
    assert plan.nft_script.count(f"flush chain {TABLE} ") == 2


def test_nothing_changed_is_an_empty_plan() -> None:
    plan, digests = dynamic_plan(RULES, frozenset({VIA_A}), _applied(RULES), frozenset({VIA_A}))
    assert plan.empty
    assert plan == Plan()
    assert digests == _applied(RULES)


def test_the_fast_path_replaces_the_fallback_route_in_place() -> None:
    """`applied_fallback` holds only the dynamic routes (fallback table, route policies'),
    never a link's own table: those change only in a full reconcile."""
    plan, _ = dynamic_plan(RULES, frozenset({VIA_B}), _applied(RULES), frozenset({VIA_A}))
    assert plan.route_deletes == (VIA_A,)
    assert plan.route_adds == (VIA_B,)
    assert plan.replaced(VIA_A)
    assert not plan.nft_script


ACTUAL = ActualState(
    NftDigests("s"),
    frozenset({VIA_B, LINK_TABLE, VIA_A}),
    frozenset({Rule(7730, 4, 7701, oif="wan1"), Rule(7710, 4, 7701, fwmark=0x100)}),
    frozenset({Sysctl("net/ipv4/conf/wan1/rp_filter", "2"), Sysctl("k/same", "1")}),
)


def test_flush_removes_everything_owned_and_restores_changed_sysctls() -> None:
    originals = {
        "net/ipv4/conf/wan1/rp_filter": "1",
        "k/same": "1",  # unchanged: nothing to write
        "net/ipv4/conf/gone/rp_filter": "0",  # interface gone: nothing to write
    }
    plan = flush_plan(ACTUAL, originals)
    assert plan.sysctls == (SysctlChange("net/ipv4/conf/wan1/rp_filter", "2", "1"),)
    assert plan.route_deletes == tuple(sorted(ACTUAL.routes))
    assert plan.rule_deletes == tuple(sorted(ACTUAL.rules))
    assert plan.rule_deletes[0].priority == 7710
    assert (plan.route_adds, plan.rule_adds) == ((), ())
    assert plan.nft_script == f"delete table {TABLE}\n"
    assert plan.nft_summary == "delete table"


def test_flush_without_a_table_deletes_no_table() -> None:
    plan = flush_plan(ActualState(None, frozenset(), frozenset(), frozenset()), {})
    assert plan.empty
    assert (plan.nft_script, plan.nft_summary) == ("", "")


def test_a_plan_lists_changes_in_the_order_they_are_applied() -> None:
    plan = Plan(
        sysctls=(SysctlChange("k/a", None, "1"), SysctlChange("k/b", "0", "1")),
        route_deletes=(VIA_A,),
        route_adds=(VIA_B,),
        rule_adds=(Rule(7730, 4, 7701, oif="wan1"),),
        rule_deletes=(Rule(7710, 4, 7701, fwmark=0x100, fwmask=0xFF00),),
        nft_script="flush chain x\nadd rule x\n",
        nft_summary="update x",
    )
    assert plan.render() == (
        "sysctl k/a: - -> 1\n"
        "sysctl k/b: 0 -> 1\n"
        f"- ip -4 route default via 100.64.1.1 dev wan1 table {TABLE_FALLBACK}\n"
        f"+ ip -4 route default via 100.64.2.1 dev wan2 table {TABLE_FALLBACK}\n"
        "+ ip -4 rule pref 7730 oif wan1 lookup 7701\n"
        "- ip -4 rule pref 7710 fwmark 0x100/0xff00 lookup 7701\n"
        "nft: update x\n"
        "    flush chain x\n"
        "    add rule x\n"
    )
    nft, rest = plan.split_nft()
    assert nft == Plan(nft_script=plan.nft_script, nft_summary="update x")
    assert rest.nft_script == rest.nft_summary == ""
    assert rest.sysctls == plan.sysctls
    assert not rest.empty


def test_each_kind_of_change_makes_a_plan_non_empty() -> None:
    assert Plan().render() == "No changes: the kernel matches the config.\n"
    for plan in (
        Plan(sysctls=(SysctlChange("k", "0", "1"),)),
        Plan(route_deletes=(VIA_A,)),
        Plan(route_adds=(VIA_A,)),
        Plan(rule_adds=(Rule(7730, 4, 7701),)),
        Plan(rule_deletes=(Rule(7730, 4, 7701),)),
        Plan(nft_script="x\n"),
    ):
        assert not plan.empty, plan


def test_a_route_is_replaced_only_by_one_for_the_same_table_family_and_destination() -> None:
    plan = Plan(route_adds=(VIA_B,))
    assert plan.replaced(VIA_A)
    assert not plan.replaced(LINK_TABLE)
    assert not plan.replaced(Route(TABLE_FALLBACK, 6, "default", "wan1"))
    assert not plan.replaced(Route(TABLE_FALLBACK, 4, "10.0.0.0/8", "wan1"))


def test_fallback_routes_are_added_after_the_link_tables() -> None:
    nft = NftState("table", NftDigests("s"))
    desired = DesiredState(nft, frozenset({VIA_A, LINK_TABLE}), frozenset(), frozenset())
    actual = ActualState(NftDigests("s"), frozenset(), frozenset(), frozenset())
    assert diff(desired, actual).route_adds == (LINK_TABLE, VIA_A)


def test_diff_names_what_it_does_to_the_table_and_deletes_stale_rules() -> None:
    nft = NftState("table", NftDigests("new"), {"pol4_all": "goto mark_a"})
    stale = Rule(7730, 4, 7701, oif="wan9")
    desired = DesiredState(nft, frozenset(), frozenset(), frozenset())
    changed = ActualState(NftDigests("old"), frozenset(), frozenset({stale}), frozenset())
    plan = diff(desired, changed)
    assert (plan.nft_summary, plan.rule_deletes) == ("replace table (config changed)", (stale,))
    fresh = ActualState(None, frozenset(), frozenset(), frozenset())
    assert diff(desired, fresh).nft_summary == "create table"
    same = ActualState(NftDigests("new", {"pol4_all": with_digest("goto mark_a")[1]}),
                       frozenset(), frozenset(), frozenset())  # fmt: skip
    assert diff(desired, same) == Plan()
