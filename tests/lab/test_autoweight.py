"""`weight = "auto"` against the real daemon and real traffic: two ISPs shaped by tbf to
40 Mbit/s each and filled by downloads take weights of about 40; when one line drops to
10 Mbit/s its weight follows within the configured window, and then both hold still; a
restarted daemon resumes from the measured weights."""

import json
import re
import time

import pytest

from multiwan.lab.configs import lab_config
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.topology import SERVER_IP, Lab
from tests.lab.conftest import LabFactory

pytestmark = pytest.mark.lab

WINDOW, MIN_INTERVAL = 6, 2
WEIGHT_LINE = r"link (isp\d): weight (\d+) -> (\d+) \((.*?)\)"


def weights(lab: Lab) -> dict[str, int]:
    links = json.loads(lab.multiwan("status", "--json").stdout)["links"]
    return {link["name"]: link["weight"] for link in links}


def wait_weights(lab: Lab, accept: object, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        found = weights(lab)
        if accept(found):  # type: ignore[operator]
            return found
        assert time.monotonic() < deadline, f"weights stayed {found}"
        time.sleep(0.5)


def test_auto_weights_follow_a_line_that_slows_from_40_to_10_mbit_and_hold_still(
    make_lab: LabFactory,
) -> None:
    lab = make_lab(n_isps=2)
    for isp in lab.isps:
        isp.shape(40)
    lab.start(lab.inet, "iperf3", "-s", "-B", SERVER_IP)
    auto = f"window = {WINDOW}\nmin_interval = {MIN_INTERVAL}\nhysteresis_pct = 25\n"
    config = lab_config(lab).replace("weight = 1\n", 'weight = "auto"\n') + "".join(
        f"[links.{isp.name}.auto_weight]\n{auto}" for isp in lab.isps
    )
    with LabDaemon(lab, config) as daemon:
        time.sleep(1.0)
        # 12 downloads: each ISP gets some (all on one: 1 in 2048), every line stays full.
        lab.start(lab.clients[0], "iperf3", "-c", SERVER_IP, "-R", "-P", "12", "-t", "60")
        full = wait_weights(lab, lambda w: min(w.values()) >= 30, timeout=20)
        assert max(full.values()) <= 45, full
        slowed = time.monotonic()
        lab.isps[0].shape(10)
        seen = daemon.wait_log(r"link isp1: weight \d+ -> ([5-9]|1[0-3]) ", timeout=WINDOW + 10,
                               after=slowed)  # fmt: skip
        assert seen - slowed <= WINDOW + MIN_INTERVAL + 2, seen - slowed
        settled = time.monotonic()
        time.sleep(WINDOW + 2 * MIN_INTERVAL)
        after = weights(lab)
        log = daemon.log()
    with LabDaemon(lab, config) as restarted:
        time.sleep(2.0)
        resumed = json.loads(lab.multiwan("status", "--json").stdout)["links"]
        relog = restarted.log()
    assert {link["name"]: link["weight"] for link in resumed} == after, relog
    assert resumed[0]["auto_weight"]["reason"] == "measured before the daemon restarted"
    assert not re.search(WEIGHT_LINE, relog), relog
    moves = re.findall(WEIGHT_LINE, log)
    print(f"weights {full} -> {after} ({seen - slowed:.1f} s after the change); moves {moves}")
    assert 5 <= after["isp1"] <= 13, after
    assert after["isp2"] >= 30, after
    late = [
        line for stamp, line in daemon.lines if stamp > settled and re.search(WEIGHT_LINE, line)
    ]
    assert not late, f"the weights must hold still under steady traffic: {late}"
