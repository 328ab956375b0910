"""`apply --confirm` on a remote router: a change that cuts the operator off comes back by
itself when nobody confirms it, with the command that made it long gone; a confirmed one
stays. Without a daemon (a detached watchdog undoes it) and with one (the daemon does)."""

import time

import pytest

from multiwan.lab.configs import lab_config, probe_health
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.topology import Lab

pytestmark = pytest.mark.lab

#: Sends the operator's client (10.10.0.2) to a policy whose only link is absent: blackhole.
CUT = """
[links.dead]
interface = "mwdead0"
gateway = "192.0.2.1"

[policies.cut]
links = ["dead"]
last_resort = "blackhole"

[[rules]]
name = "operator"
src = ["10.10.0.2/32"]
via = "cut"
"""


def _reachable(lab: Lab) -> bool:
    return lab.flows(count=3, timeout=0.5).failed == 0


def _wait_reachable(lab: Lab, timeout: float) -> float:
    """Seconds until the operator's client gets through again."""
    start = time.monotonic()
    while not _reachable(lab):
        assert time.monotonic() - start < timeout, "the router never came back"
        time.sleep(0.2)
    return time.monotonic() - start


def test_an_unconfirmed_apply_comes_back_by_itself(lab3: Lab) -> None:
    good = lab_config(lab3)
    lab3.multiwan("apply", config=good)
    assert _reachable(lab3)

    applied = time.monotonic()
    done = lab3.multiwan("apply", "--confirm", "6", config=good + CUT)
    assert "Undone in 6 s unless `multiwan confirm` comes first." in done.stdout
    refused = lab3.multiwan("apply", config=good, check=False)
    assert refused.returncode == 6, refused.stderr
    assert not _reachable(lab3)  # cut off; the apply command has long exited
    _wait_reachable(lab3, timeout=15)
    assert 5.5 < time.monotonic() - applied < 15
    assert "Already applied" in lab3.multiwan("apply", config=good).stdout
    late = lab3.multiwan("confirm", check=False)
    assert late.returncode == 6
    assert "its time ran out and it was undone" in late.stderr

    # A confirmed change stays past its deadline.
    weighted = lab_config(lab3, weights=[1, 1, 2])
    lab3.multiwan("apply", "--confirm", "5", config=weighted)
    assert "Confirmed: the change stays." in lab3.multiwan("confirm").stdout
    time.sleep(6)
    assert "Already applied" in lab3.multiwan("apply", config=weighted).stdout


def test_an_unconfirmed_reload_of_the_daemon_comes_back(lab3: Lab) -> None:
    good = lab_config(lab3, health=probe_health(lab3))
    with LabDaemon(lab3, good) as daemon:
        assert _reachable(lab3)
        daemon.config_path.write_text(good + CUT)
        lab3.multiwan("-c", str(daemon.config_path), "reload", "--confirm", "4")
        assert not _reachable(lab3)
        daemon.wait_log(r"change not confirmed in time: reverting", timeout=10)
        _wait_reachable(lab3, timeout=5)
        # Confirmed, it stays.
        lab3.multiwan("-c", str(daemon.config_path), "reload", "--confirm", "5")
        lab3.multiwan("-c", str(daemon.config_path), "confirm")
        time.sleep(6)
        assert not _reachable(lab3)
        assert "reverting" not in daemon.log().split("change confirmed")[-1]
