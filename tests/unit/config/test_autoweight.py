"""`weight = "auto"` and its settings: accepted where they make sense, refused with the
field and line where not."""

import pytest

from multiwan.config.errors import ConfigError
from multiwan.config.load import load_config_text

TEXT = """\
default_policy = "p"
[links.lte1]
interface = "usb0"
weight = {weight}
[links.lte1.auto_weight]
window = {window}
[policies.p]
links = ["lte1"]
"""


def problems(weight: str, window: str = "30") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(TEXT.format(weight=weight, window=window), "m.toml")
    return [str(p) for p in caught.value.problems]


def test_auto_with_its_settings_is_accepted() -> None:
    link = load_config_text(TEXT.format(weight='"auto"', window="30"), "m.toml").links["lte1"]
    assert link.weighing is not None
    assert (link.weighing.window, link.weighing.initial, link.fixed_weight) == (30, 10, 10)


def test_settings_without_auto_are_refused() -> None:
    assert problems("3") == [
        'm.toml:2: links.lte1: auto_weight needs weight = "auto" (weight is 3)'
    ]


def test_a_window_longer_than_the_rates_kept_is_refused() -> None:
    assert problems('"auto"', "601") == [
        "m.toml:6: links.lte1.auto_weight.window: must be <= 600, got 601"
    ]


def test_a_weight_that_is_neither_a_number_nor_auto_says_both() -> None:
    assert problems('"fast"')[0] == (
        "m.toml:4: links.lte1.weight: expected an integer 1-1000 or \"auto\", got 'fast'"
    )
