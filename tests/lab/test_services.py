"""Inbound service balancing with real backends: schedulers, stickiness, backends dying
(process killed, host silent), backups, all-down rejection, drain, SNAT, local clients."""

import json
import subprocess
import sys
import time

import pytest

from multiwan.lab.backends import (
    VIP,
    BackendHost,
    add_backends,
    greetings,
    kill_backend,
    start_backend,
)
from multiwan.lab.configs import lab_config
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.topology import Lab
from tests.lab.conftest import LabFactory
from tests.lab.shares import CHI2_CRITICAL

pytestmark = pytest.mark.lab

CHECK = '{ kind = "smtp", interval = 0.1, timeout = 0.1, rise = 2, fall = 2 }'


def service_config(
    lab: Lab,
    backends: list[BackendHost],
    scheduler: str = "weighted",
    weights: tuple[int, ...] | None = None,
    backups: tuple[bool, ...] | None = None,
    extra: str = "",
) -> str:
    weights = weights or (1,) * len(backends)
    backups = backups or (False,) * len(backends)
    rows = ",\n  ".join(
        f'{{ address = "{b.address}", weight = {w}, backup = {str(k).lower()} }}'
        for b, w, k in zip(backends, weights, backups, strict=True)
    )
    return lab_config(lab) + (
        f'\n[services.smtp]\nlisten = ["{VIP}"]\nports = [25]\nscheduler = "{scheduler}"\n'
        f"check = {CHECK}\n{extra}backends = [\n  {rows},\n]\n"
    )


@pytest.fixture
def world(make_lab: LabFactory) -> tuple[Lab, list[BackendHost]]:
    lab = make_lab(n_isps=1, n_clients=2)
    return lab, add_backends(lab, 3)


def test_weighted_split_matches_weights(world: tuple[Lab, list[BackendHost]]) -> None:
    lab, backends = world
    lab.multiwan("apply", config=service_config(lab, backends, weights=(1, 1, 2)))
    names, failed = greetings(lab.clients[0], 800)
    assert failed == 0
    expected = {"b1": 200, "b2": 200, "b3": 400}
    chi2 = sum((names[n] - e) ** 2 / e for n, e in expected.items())
    assert chi2 < CHI2_CRITICAL[0.001][2], names


def test_round_robin_takes_turns(world: tuple[Lab, list[BackendHost]]) -> None:
    lab, backends = world
    lab.multiwan("apply", config=service_config(lab, backends, scheduler="round-robin"))
    names, failed = greetings(lab.clients[0], 300, concurrency=1)
    assert failed == 0
    assert max(names.values()) - min(names.values()) <= 1, names


def test_source_hash_keeps_each_client_on_one_backend(world: tuple[Lab, list[BackendHost]]) -> None:
    lab, backends = world
    lab.multiwan("apply", config=service_config(lab, backends, scheduler="source-hash"))
    for client in lab.clients:
        names, failed = greetings(client, 50)
        assert failed == 0
        assert len(names) == 1, names


def test_backends_that_die_stop_getting_connections_and_come_back(
    world: tuple[Lab, list[BackendHost]],
) -> None:
    lab, backends = world
    with LabDaemon(lab, service_config(lab, backends)) as daemon:
        kill_backend(backends[0])  # the process dies: its port refuses
        died = time.monotonic()
        seen = daemon.wait_log(r"service smtp: backend 10\.20\.0\.11:25 up -> down")
        assert seen - died < 1.0  # fall=2 x interval=0.1s, plus a round
        backends[1].blackhole()  # the host stops answering at all
        daemon.wait_log(r"service smtp: backend 10\.20\.0\.12:25 up -> down \(2 rounds failed")
        names, failed = greetings(lab.clients[0], 100)
        assert (dict(names), failed) == ({"b3": 100}, 0)
        start_backend(lab, backends[0])
        backends[1].revive()
        daemon.wait_log(r"backend 10\.20\.0\.11:25 down -> up")
        daemon.wait_log(r"backend 10\.20\.0\.12:25 down -> up")
        names, _ = greetings(lab.clients[0], 150)
        assert set(names) == {"b1", "b2", "b3"}


def test_backup_takes_over_and_all_down_is_rejected_quickly(
    world: tuple[Lab, list[BackendHost]],
) -> None:
    lab, backends = world
    config = service_config(lab, backends, backups=(False, False, True))
    with LabDaemon(lab, config) as daemon:
        assert set(greetings(lab.clients[0], 60)[0]) == {"b1", "b2"}
        kill_backend(backends[0])
        kill_backend(backends[1])
        daemon.wait_log(r"backend 10\.20\.0\.12:25 up -> down")
        daemon.wait_log(r"backend 10\.20\.0\.11:25 up -> down")
        assert greetings(lab.clients[0], 40)[0] == {"b3": 40}
        kill_backend(backends[2])
        daemon.wait_log(r"service smtp: no backend left; new connections are rejected")
        started = time.monotonic()
        names, failed = greetings(lab.clients[0], 20, concurrency=1)
        assert (sum(names.values()), failed) == (0, 20)
        assert time.monotonic() - started < 3.0  # reset at once, no connect timeouts
        time.sleep(1.2)  # the rejected counter is published once a second
        status = json.loads(lab.multiwan("status", "--json").stdout)
        assert status["services"]["smtp"]["rejected"] >= 20
        start_backend(lab, backends[0])
        daemon.wait_log(r"backend 10\.20\.0\.11:25 down -> up")
        assert greetings(lab.clients[0], 20)[0] == {"b1": 20}


def test_drain_and_snat_and_local_clients(world: tuple[Lab, list[BackendHost]]) -> None:
    lab, backends = world
    with LabDaemon(lab, service_config(lab, backends, extra="snat = true\n")):
        session = lab.clients[0].popen([sys.executable, "-c", SESSION, VIP], stdout=subprocess.PIPE)
        assert session.stdout is not None
        greeting = session.stdout.readline().split()
        name, peer = greeting[1], greeting[-1].rstrip(")")
        assert peer == "10.20.0.1"  # snat: the backend sees the balancer
        key = next(b for b in backends if b.name == name).address + ":25"
        drained = lab.multiwan("backend", "drain", "smtp", key, check=False)
        assert drained.returncode == 0, drained.stderr
        names, _ = greetings(lab.clients[0], 60)
        assert name not in names
        for _ in range(5):  # the drained backend's session goes on
            assert session.stdout.readline().startswith(f"250 {name} ok")
        session.kill()
        local, failed = greetings(lab.router, 30)  # clients on the balancer itself
        assert (sum(local.values()), failed) == (30, 0)


SESSION = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], 25), timeout=5)
f = s.makefile("rw")
print(f.readline().strip(), flush=True)
while True:
    f.write("NOOP\\r\\n"); f.flush()
    print(f.readline().strip(), flush=True)
    time.sleep(0.1)
"""


def test_udp_service_gets_udp_checks(make_lab: LabFactory) -> None:
    """The default check of a UDP service is a datagram (an ICMP port unreachable fails it);
    `expect` also fails a silent host. (Only `dns` checks b1: a host sends about one ICMP
    error a second to the balancer, and checks of other services would share them.)"""
    lab = make_lab(n_isps=1, n_clients=2)
    backends = add_backends(lab, 2, udp=5353)
    rows = ", ".join(f'{{ address = "{b.address}" }}' for b in backends)
    config = lab_config(lab) + (
        f'\n[services.dns]\nlisten = ["{VIP}"]\nports = [5353]\nprotocol = "udp"\n'
        f"backends = [{rows}]\n"
        f'\n[services.echo]\nlisten = ["{VIP}"]\nports = [5354]\nprotocol = "udp"\n'
        'check = { payload = "ping", expect = " 10.20.0.1", interval = 0.2, timeout = 0.2 }\n'
        f'backends = [{{ address = "{backends[1].address}", port = 5353 }}]\n'
    )
    with LabDaemon(lab, config) as daemon:
        time.sleep(2.5)  # two rounds of the default check (every second)
        names, failed = greetings(lab.clients[0], 100, port=5353, kind="udp")
        assert failed == 0
        assert set(names) == {"b1", "b2"}, names
        assert greetings(lab.clients[0], 10, port=5354, kind="udp") == ({"b2": 10}, 0)
        kill_backend(backends[0])  # its host answers the port with ICMP port unreachable
        daemon.wait_log(r"service dns: backend 10\.20\.0\.11:5353 up -> down \(2 rounds "
                        r"failed: udp:10\.20\.0\.11:5353 port unreachable")  # fmt: skip
        # Another client: the first one's old source ports still have conntrack entries
        # (DNAT to b1, kept as established flows are), which a reused port would hit.
        assert greetings(lab.clients[1], 60, port=5353, kind="udp") == ({"b2": 60}, 0)
        backends[1].blackhole()  # silent: only a check that needs a reply sees it
        daemon.wait_log(r"service echo: backend 10\.20\.0\.12:5353 up -> down \(2 rounds "
                        r"failed: udp:10\.20\.0\.12:5353 no reply")  # fmt: skip
        names, failed = greetings(lab.clients[0], 10, port=5354, kind="udp", concurrency=10)
        assert (sum(names.values()), failed) == (0, 10)  # rejected: no backend left


def routing_state(lab: Lab) -> dict[str, str]:
    """What a services-only config must leave alone: rules, every route table, sysctls
    (read once the kernel is done adding link-local addresses)."""
    router = lab.router
    deadline = time.monotonic() + 10
    while router.run("ip", "-6", "addr", "show", "tentative").stdout.strip():
        assert time.monotonic() < deadline, "IPv6 duplicate address detection never ended"
        time.sleep(0.1)
    return {
        "rules4": router.run("ip", "-4", "rule").stdout,
        "rules6": router.run("ip", "-6", "rule").stdout,
        "routes4": router.run("ip", "-4", "route", "show", "table", "all").stdout,
        "routes6": router.run("ip", "-6", "route", "show", "table", "all").stdout,
        "sysctls": router.run("sysctl", "-a", "-r", r"^net\.ipv[46]\.(conf|ip_forward)").stdout,
    }


def test_services_only_box_balances_and_leaves_routing_alone(make_lab: LabFactory) -> None:
    """No links: the daemon runs, only DNAT is added (limited to `iif`), and rules, routes
    and sysctls stay exactly as they were."""
    lab = make_lab(n_isps=1, n_clients=1)
    backends = add_backends(lab, 2)
    isp = lab.isps[0]
    isp.ns.run("ip", "route", "add", f"{VIP}/32", "via", isp.router_address)
    rows = ", ".join(f'{{ address = "{b.address}" }}' for b in backends)
    config = (
        f'[services.smtp]\nlisten = ["{VIP}"]\nports = [25]\niif = "lan0"\ncheck = {CHECK}\n'
        f"backends = [{rows}]\n"
    )
    before = routing_state(lab)
    with LabDaemon(lab, config) as daemon:
        daemon.wait_log(r"running: 0 links")
        names, failed = greetings(lab.clients[0], 100)
        assert failed == 0
        assert set(names) == {"b1", "b2"}, names
        # From another interface the address is not a service (it is routed as any other).
        assert greetings(isp.ns, 5, concurrency=5) == ({}, 5)
        kill_backend(backends[0])
        daemon.wait_log(r"service smtp: backend 10\.20\.0\.11:25 up -> down")
        assert greetings(lab.clients[0], 40) == ({"b2": 40}, 0)
        assert routing_state(lab) == before
        table = lab.router.run("nft", "list", "table", "inet", "multiwan").stdout
        assert "mark" not in table
        assert "masquerade" not in table
    assert routing_state(lab) == before
    lab.multiwan("flush", config=config)
    assert lab.router.run("nft", "list", "tables").stdout.strip() == ""


def test_backend_connections_are_counted_in_status_and_metrics(
    world: tuple[Lab, list[BackendHost]],
) -> None:
    """Each backend's new connections (its nft counter), in `status` and on /metrics."""
    lab, backends = world
    with LabDaemon(lab, service_config(lab, backends)):
        names, failed = greetings(lab.clients[0], 60)
        assert failed == 0
        time.sleep(1.2)  # counters are published once a second
        status = json.loads(lab.multiwan("status", "--json").stdout)
        rows = status["services"]["smtp"]["backends"]
        assert {r["backend"]: r["connections"] for r in rows} == {
            f"{b.address}:25": names[b.name] for b in backends
        }
        scrape = (
            "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9560/').read().decode())"
        )
        metrics = lab.router.run(sys.executable, "-c", scrape).stdout
        for b in backends:
            labels = f'backend="{b.address}:25",service="smtp"'
            assert f"multiwan_backend_connections_total{{{labels}}} {names[b.name]:.1f}" in metrics
            assert f'multiwan_backend_state{{{labels},state="up"}} 1.0' in metrics
