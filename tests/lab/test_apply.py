"""apply / plan / flush / show against a real kernel: idempotence, hitless re-apply, exact
flush, and failures that leave the previous state intact."""

import json
import re
import sys

import pytest

from multiwan.lab.configs import lab_config
from multiwan.lab.longflow import LongFlow
from multiwan.lab.topology import Lab
from tests.lab.conftest import LabFactory

pytestmark = pytest.mark.lab


def _without_link_local(listing: str) -> str:
    """IPv6 link-local routes appear whenever the kernel finishes DAD, not by our doing."""
    return "\n".join(line for line in listing.splitlines() if " fe80:" not in line)


def router_state(lab: Lab) -> dict[str, str]:
    """Everything flush must restore: rules, routes of all tables, nft ruleset, sysctls."""
    run = lab.router.run
    sysctls = run(
        "sysctl", "-a", "--pattern", r"net\.ipv4\.conf\.wan.*\.(rp_filter|src_valid_mark|arp_)"
    ).stdout
    return {
        "rules4": run("ip", "-4", "rule").stdout,
        "rules6": run("ip", "-6", "rule").stdout,
        "routes4": run("ip", "-4", "route", "show", "table", "all").stdout,
        "routes6": _without_link_local(run("ip", "-6", "route", "show", "table", "all").stdout),
        "nft": run("nft", "list", "ruleset").stdout,
        "sysctls": sysctls,
    }


def test_flush_leaves_the_router_exactly_as_before(lab3: Lab) -> None:
    before = router_state(lab3)
    lab3.multiwan("apply", config=lab_config(lab3, ipv6=True))
    applied = router_state(lab3)
    assert applied != before
    assert "7701" in applied["rules4"]
    assert "table inet multiwan" in applied["nft"]
    lab3.multiwan("flush")
    assert router_state(lab3) == before
    assert lab3.multiwan("flush").stdout.strip() == "Nothing to flush."


def test_flush_is_exact_on_same_subnet_modems(make_lab: LabFactory) -> None:
    """The same-subnet plan also sets arp_ignore and arp_announce: flush restores them."""
    lab = make_lab(plan="same-subnet")
    # Values other than the kernel's defaults and multiwan's own, so a missed restore shows.
    for key, value in (("arp_ignore", "2"), ("arp_announce", "1"), ("rp_filter", "0")):
        lab.router.sysctl(f"net.ipv4.conf.wan2.{key}", value)
    before = router_state(lab)
    lab.multiwan("apply", config=lab_config(lab))
    assert router_state(lab)["sysctls"] != before["sysctls"]
    lab.multiwan("flush")
    assert router_state(lab) == before


def test_sysctls_of_a_link_added_later_are_restored_too(make_lab: LabFactory) -> None:
    """Originals are recorded at every apply that changes a sysctl, not only the first."""
    lab = make_lab()
    before = router_state(lab)
    two = lab_config(lab).split("[links.isp3]")[0] + '[policies.all]\nlinks = ["isp1", "isp2"]\n'
    lab.multiwan("apply", config=two)
    lab.multiwan("apply", config=lab_config(lab))
    assert "wan3.src_valid_mark = 1" in router_state(lab)["sysctls"]
    lab.multiwan("flush")
    assert router_state(lab) == before


def test_a_late_failure_leaves_the_router_byte_identical(lab3: Lab) -> None:
    """A plan that fails at its last step (nft) undoes its sysctls, routes and rules."""
    before = router_state(lab3)
    path = lab3.state_dir / "multiwan.toml"
    path.write_text(lab_config(lab3))
    late_failure = (
        "import sys\n"
        "from dataclasses import replace\n"
        "from pathlib import Path\n"
        "from multiwan.config.load import load_config\n"
        "from multiwan.kernel.reconcile import ApplyError, Kernel\n"
        "from multiwan.operations import intent\n"
        "kernel = Kernel(Path(sys.argv[2]))\n"
        "plan = intent(load_config(Path(sys.argv[1])), kernel).plan\n"
        "assert plan.sysctls and plan.route_adds and plan.rule_adds\n"
        "try:\n"
        "    kernel.execute(replace(plan, nft_script='add rule inet nowhere nochain accept'))\n"
        "except ApplyError as exc:\n"
        "    print(exc)\n"
    )
    out = lab3.router.run(sys.executable, "-c", late_failure, str(path), str(lab3.state_dir))
    assert "previous state restored" in out.stdout
    assert router_state(lab3) == before


def test_second_apply_is_a_noop_that_keeps_counters(lab3: Lab) -> None:
    config = lab_config(lab3)
    lab3.multiwan("apply", config=config)
    lab3.flows(count=30)
    counters = lab3.router.run("nft", "list", "counters", "table", "inet", "multiwan").stdout
    again = lab3.multiwan("apply", config=config)
    assert again.stdout.strip() == "Already applied: no changes."
    assert lab3.multiwan("plan", config=config).stdout.startswith("No changes")
    after = lab3.router.run("nft", "list", "counters", "table", "inet", "multiwan").stdout
    assert after == counters


def test_long_lived_connection_keeps_its_link_across_reapply(lab3: Lab) -> None:
    lab3.multiwan("apply", config=lab_config(lab3))
    with LongFlow(lab3.clients[0]) as flow:
        (first,) = flow.sources()
        # A weight change rewrites one policy chain ...
        reweighted = lab3.multiwan("apply", config=lab_config(lab3, weights=(5, 1, 1)))
        assert "nft: update pol4_all" in reweighted.stdout
        flow.wait_replies(5)
        # ... a new rule replaces the whole table; new flows follow it at once.
        rule = '\n[[rules]]\nproto = "tcp"\ndport = [80]\nvia = "isp3"\n'
        replaced = lab3.multiwan("apply", config=lab_config(lab3, extra=rule))
        assert "replace table" in replaced.stdout
        assert lab3.flows(count=20).per_isp["isp3"] == 20
        flow.wait_replies(5)
        assert not flow.broken()
        assert flow.sources() == {first}


def test_plan_shows_changes_without_applying(lab3: Lab) -> None:
    out = lab3.multiwan("plan", config=lab_config(lab3)).stdout
    assert "+ ip -4 rule pref 7710 fwmark 0x100/0xff00 lookup 7701" in out
    assert "numgen random mod 3" in out
    assert "multiwan" not in lab3.router.run("nft", "list", "tables").stdout
    assert "7701" not in lab3.router.run("ip", "rule").stdout


def test_invalid_config_is_rejected_and_nothing_is_applied(lab3: Lab) -> None:
    bad = lab_config(lab3).replace("weight = 1", "weight = 0", 1)
    result = lab3.multiwan("apply", config=bad, check=False)
    assert result.returncode == 1
    assert re.search(r"multiwan\.toml:\d+: links\.isp1\.weight: ", result.stderr), result.stderr
    assert "multiwan" not in lab3.router.run("nft", "list", "tables").stdout


def test_failed_kernel_apply_keeps_the_previous_state(lab3: Lab) -> None:
    lab3.multiwan("apply", config=lab_config(lab3))
    before = router_state(lab3)
    # A gateway the kernel refuses (not on the link's subnet), for the last link only.
    broken = lab_config(lab3, weights=(1, 1, 2)).replace("100.64.3.1", "100.99.3.1")
    result = lab3.multiwan("apply", config=broken, check=False)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "previous state restored" in result.stderr
    assert router_state(lab3) == before


def test_show_reports_owned_state_as_json(lab3: Lab) -> None:
    lab3.multiwan("apply", config=lab_config(lab3))
    lab3.flows(count=30)
    state = json.loads(lab3.multiwan("show", "--json").stdout)
    assert state["nft_table"] == "inet multiwan"
    assert sum(link["new_connections"] for link in state["links"].values()) == 30
    assert any("fwmark 0x300/0xff00 lookup 7703" in rule for rule in state["rules"])
    assert "isp1" in lab3.multiwan("show").stdout
