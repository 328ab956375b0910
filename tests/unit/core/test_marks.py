"""The mark bits multiwan owns: configurable, and everything rendered stays inside them."""

import re

import pytest
from pydantic import ValidationError

from multiwan.config.schema import Config
from multiwan.core.compile import compile_state
from multiwan.core.links import FamilyFacts, InterfaceFacts, resolve_links
from multiwan.core.ownership import MarkSpace

CONFIG = {
    "default_policy": "all",
    "links": {"a": {"interface": "eth1", "gateway": "192.0.2.1"}, "b": {"interface": "eth2"}},
    "policies": {"all": {"links": ["a", "b"], "last_resort": "main"}},
}
FACTS = {
    "eth1": InterfaceFacts(True, FamilyFacts(None, "192.0.2.2", ("192.0.2.0/24",))),
    "eth2": InterfaceFacts(True, FamilyFacts("198.51.100.1", "198.51.100.2", ("198.51.100.0/24",))),
}


def test_mark_space_values() -> None:
    marks = MarkSpace(0xFF0000)
    assert (marks.shift, marks.link(3), marks.bypass, marks.last_resort, marks.keep) == (
        16, 0x30000, 0xFE0000, 0xFD0000, 0xFF00FFFF,
    )  # fmt: skip


def test_a_moved_mask_moves_every_mark_and_keeps_other_bits() -> None:
    config = Config.model_validate({**CONFIG, "mark_mask": 0xFF0000})
    desired = compile_state(config, resolve_links(config, FACTS), {"a", "b"})
    static = desired.nft.static
    assert "0xff00 " not in static
    assert "ct mark set ct mark & 0xff00ffff | 0x10000" in static
    assert "meta mark set meta mark & 0xff00ffff | 0x20000" in static
    masks = {rule.fwmask for rule in desired.rules if rule.fwmask is not None}
    assert masks == {0xFF0000}
    # No rendered mark value falls outside the mask.
    for value in re.findall(r"\| (0x[0-9a-f]+)", static):
        assert int(value, 16) & ~0xFF0000 == 0


@pytest.mark.parametrize("mask", [0, 0xF0F0, 0xF0, 0x1_0000_0000, -1])
def test_masks_that_cannot_hold_the_marks_are_rejected(mask: int) -> None:
    with pytest.raises(ValidationError, match="mark_mask"):
        Config.model_validate({**CONFIG, "mark_mask": mask})
