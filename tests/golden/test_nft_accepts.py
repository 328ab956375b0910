"""nft itself takes every script multiwan renders: each golden case and any valid config,
checked with `nft -c` (nothing is applied) inside a namespace of this test run."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from multiwan.config.load import load_config_text
from multiwan.core.compile import compile_state
from multiwan.core.links import resolve_links
from multiwan.core.model import NftState
from multiwan.core.nft import dynamic_script, full_script
from multiwan.lab.netns import Netns, unique_tag
from tests.conftest import TEST_PREFIX
from tests.golden.test_compile_golden import CASES, compile_case
from tests.unit.config.test_properties import FAST, facts_for, to_toml, valid_configs

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None, reason="nft -c needs root and nft"
)


@pytest.fixture(scope="module")
def netns() -> Iterator[Netns]:
    ns = Netns(f"{TEST_PREFIX}{unique_tag()}-nft")
    try:
        yield ns
    finally:
        ns.delete()


def assert_nft_accepts(netns: Netns, state: NftState) -> None:
    """The whole table, then a rewrite of every one-rule chain, as one checked batch."""
    script = full_script(state) + dynamic_script(state.dynamic, state.dynamic)
    checked = netns.run("nft", "-c", "-f", "-", input=script, check=False)
    assert checked.returncode == 0, f"{checked.stderr}\n{script}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_case_scripts_pass_nft_check(case: Path, netns: Netns) -> None:
    assert_nft_accepts(netns, compile_case(case)[2].nft)


@FAST
@given(valid_configs())
def test_any_valid_config_renders_a_script_nft_takes(netns: Netns, data: dict[str, Any]) -> None:
    config = load_config_text(to_toml(data), "gen.toml")
    links = resolve_links(config, facts_for(config))
    assert_nft_accepts(netns, compile_state(config, links, set(config.links)).nft)
