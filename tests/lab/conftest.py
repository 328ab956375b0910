"""Lab fixtures: namespace worlds with a router under test, always deleted."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from multiwan.lab.topology import Lab, build_lab
from tests.conftest import TEST_PREFIX

LabFactory = Callable[..., Lab]


@pytest.fixture
def make_lab() -> Iterator[LabFactory]:
    """Build labs with any options; every one is cleaned up at the end of the test."""
    built: list[Lab] = []

    def make(**options: Any) -> Lab:
        """`build_lab` with this run's prefix; `options` as `build_lab` takes them."""
        lab = build_lab(TEST_PREFIX, **options)
        built.append(lab)
        return lab

    try:
        yield make
    finally:
        for lab in built:
            lab.cleanup()


@pytest.fixture
def lab3(make_lab: LabFactory) -> Lab:
    """Three ISPs on distinct subnets, one client."""
    return make_lab()
