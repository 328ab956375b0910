"""least-loaded client pools with real clients: each LAN client learned from the router's
neighbour table keeps one link for all its new connections, the clients are spread by
weight, a dead link's clients move, and with `return_home` they come back."""

import json
import time

import pytest

from multiwan.lab.configs import lab_config, probe_health
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.topology import Lab
from tests.lab.conftest import LabFactory

pytestmark = pytest.mark.lab


def pools(lab: Lab) -> dict[str, list[str]]:
    status = json.loads(lab.multiwan("status", "--json").stdout)
    return dict(status["pools"].get("all", {}))


def seated(lab: Lab, clients: int, timeout: float = 10.0) -> dict[str, list[str]]:
    """Wait until `clients` clients are seated; the seats by link."""
    deadline = time.monotonic() + timeout
    while True:
        found = pools(lab)
        if sum(len(seats) for seats in found.values()) >= clients:
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.1)


def links_of_clients(lab: Lab) -> dict[str, set[str]]:
    """Which ISPs each client's new connections took (20 each)."""
    taken = {}
    for client in lab.clients:
        address = client.run("ip", "-4", "-o", "addr", "show", "eth0").stdout.split()[3]
        per_isp = lab.flows(count=20, client=client).per_isp
        taken[address.split("/")[0]] = {isp for isp, n in per_isp.items() if n}
    return taken


def test_clients_are_seated_by_weight_moved_off_a_dead_link_and_brought_home(
    make_lab: LabFactory,
) -> None:
    lab = make_lab(n_isps=2, n_clients=4)
    config = lab_config(lab, strategy="least-loaded", health=probe_health(lab))
    config = config.replace(
        'strategy = "least-loaded"', 'strategy = "least-loaded"\nreturn_home = true'
    )
    with LabDaemon(lab, config) as daemon:
        for client in lab.clients:  # the router learns each client (ARP)
            lab.flows(count=1, client=client)
        homes = seated(lab, 4)
        assert sorted(len(clients) for clients in homes.values()) == [2, 2], homes
        taken = links_of_clients(lab)
        home_of = {c: link for link, clients in homes.items() for c in clients}
        assert taken == {c: {home_of[c]} for c in taken}, (taken, homes)

        lab.isps[0].blackhole()
        daemon.wait_log(r"link isp1: up -> down")
        assert all(links == {"isp2"} for links in links_of_clients(lab).values())
        assert set(pools(lab)) == {"isp2"}

        lab.isps[0].restore()
        daemon.wait_log(r"link isp1: down -> up")
        assert pools(lab) == homes  # return_home
        assert links_of_clients(lab) == taken

    with LabDaemon(lab, config):  # a restart keeps every client's seat
        assert seated(lab, 4) == homes
