"""Lab fixtures: namespace worlds with a router under test, always deleted."""

from collections.abc import Callable, Iterator

import pytest

from multiwan.lab.topology import Lab, MainDefault, Plan, build_lab
from tests.conftest import TEST_PREFIX

LabFactory = Callable[..., Lab]


@pytest.fixture
def make_lab() -> Iterator[LabFactory]:
    """Build labs with any options; every one is cleaned up at the end of the test."""
    built: list[Lab] = []

    def make(
        n_isps: int = 3,
        plan: Plan = "distinct",
        n_clients: int = 1,
        same_address: bool = False,
        main_default: MainDefault = "uplink",
        rp_filter: int | None = None,
    ) -> Lab:
        lab = build_lab(TEST_PREFIX, n_isps, plan, n_clients, same_address, main_default, rp_filter)
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
