"""Interface facts are read, not only heard: the daemon subscribes to netlink before its
first reconcile and reads presence, carrier and admin state again after subscribing, after
lost events and after every reload. No link stays `absent` or `up` on a stale fact."""

import signal
import time

import pytest

from multiwan.lab.configs import lab_config, probe_health
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.topology import Lab

pytestmark = pytest.mark.lab


def config(lab: Lab) -> str:
    return lab_config(lab, health=probe_health(lab))


def test_carrier_is_read_at_start(lab3: Lab) -> None:
    lab3.isps[1].carrier_down()
    with LabDaemon(lab3, config(lab3)) as daemon:
        assert "isp2 down" in daemon.log()  # from the start, never `up` for a moment
        assert lab3.flows(count=30).per_isp["isp2"] == 0
        lab3.isps[1].carrier_up()
        daemon.wait_log(r"link isp2: down -> up \(3 good rounds\)")


def test_a_reload_that_corrects_the_interface_name_brings_the_link_back(lab3: Lab) -> None:
    wrong = config(lab3).replace('interface = "wan2"', 'interface = "wan9"')
    with LabDaemon(lab3, wrong) as daemon:
        assert "isp2 absent" in daemon.log()
        daemon.config_path.write_text(config(lab3))
        daemon.send(signal.SIGHUP)
        daemon.wait_log(r"reloaded: 3 links")
        daemon.wait_log(r"link isp2: \w+ -> up", timeout=5)
        assert lab3.flows(count=90).per_isp["isp2"] > 0


def test_an_interface_deleted_right_after_start_is_seen(lab3: Lab) -> None:
    """Deleted right after the first reconcile, before `running` is logged: the daemon was
    not yet subscribed then, missed the event, and the link only went down by probes."""
    daemon = LabDaemon(lab3, config(lab3)).start(ready=r"INFO reconciled")
    try:
        lab3.delete_uplink(lab3.isps[1])
        deleted = time.monotonic()
        seen = daemon.wait_log(r"link isp2: \w+ -> absent \(interface gone\)", timeout=5)
        assert seen - deleted < 1.0, daemon.log()
    finally:
        daemon.stop()
