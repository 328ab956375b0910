"""The shipped defaults protect a user who configured only health targets."""

import time

import pytest

from multiwan.lab.configs import lab_config, lab_targets
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.topology import Lab

pytestmark = pytest.mark.lab


def test_default_quality_takes_a_link_losing_20_percent_each_way_out_of_new_connections(
    lab3: Lab,
) -> None:
    with LabDaemon(lab3, lab_config(lab3, health=lab_targets(lab3))) as daemon:
        assert min(lab3.flows(count=90).per_isp.values()) > 0
        lossy = time.monotonic()
        lab3.isps[1].loss(20, both_ways=True)
        out = daemon.wait_log(r"link isp2: up -> degraded \(loss", timeout=15)
        assert out - lossy < 5.0
        result = lab3.flows(count=150)
        assert (result.per_isp["isp2"], result.failed) == (0, 0), result
        assert result.total == 150
