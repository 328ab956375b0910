"""Operating a running daemon: every command over the control socket, permissions, drain,
mode switch, metrics over HTTP, and what the CLI says when no daemon runs."""

import json
import re
import subprocess
import sys
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from multiwan.config.schema import STRATEGIES
from multiwan.lab.configs import lab_config, probe_health
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.longflow import LongFlow
from multiwan.lab.topology import Lab

pytestmark = pytest.mark.lab


def cli(lab: Lab, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "multiwan", "--state-dir", str(lab.state_dir), *args]
    if user:
        argv = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups", *argv]
    return lab.router.run(*argv, check=False)


def status(lab: Lab) -> dict[str, dict[str, object]]:
    result = cli(lab, "status", "--json")
    assert result.returncode == 0, result.stderr
    return {link["name"]: link for link in json.loads(result.stdout)["links"]}


def config(lab: Lab, extra: str = "") -> str:
    return lab_config(lab, health=probe_health(lab), extra=extra)


def test_every_command_against_a_running_daemon(lab3: Lab) -> None:
    with LabDaemon(lab3, config(lab3)):
        table = cli(lab3, "status").stdout
        assert "isp1" in table and "up" in table  # noqa: PT018
        assert {link["state"] for link in status(lab3).values()} == {"up"}
        assert cli(lab3, "mode", "failover").returncode == 0
        assert lab3.flows(count=30).per_isp == {"isp1": 30, "isp2": 0, "isp3": 0}
        assert cli(lab3, "link", "disable", "isp1").returncode == 0
        assert status(lab3)["isp1"]["state"] == "disabled"
        assert lab3.flows(count=30).per_isp == {"isp1": 0, "isp2": 30, "isp3": 0}
        assert cli(lab3, "link", "enable", "isp1").returncode == 0
        assert cli(lab3, "mode", "balance").returncode == 0
        assert cli(lab3, "weight", "isp3", "8").returncode == 0
        assert status(lab3)["isp3"]["weight"] == 8
        log = cli(lab3, "log").stdout
        assert "isp1: up -> disabled (disabled by operator)" in log
        bad = cli(lab3, "link", "drain", "isp9")
        assert bad.returncode == 1
        assert "unknown link 'isp9'" in bad.stderr
        assert cli(lab3, "mode", "nonsense").returncode == 1
        reloaded = cli(lab3, "reload")
        assert reloaded.returncode == 0
        assert status(lab3)["isp3"]["weight"] == 1  # runtime changes end with a reload


def test_drain_lets_existing_connections_finish_and_sends_new_ones_elsewhere(lab3: Lab) -> None:
    with LabDaemon(lab3, config(lab3)):
        flows: list[LongFlow] = []
        while not any(lab3.isps[1].public in f.sources() for f in flows):
            flows.append(LongFlow(lab3.clients[0]).__enter__())
        on_isp2 = next(f for f in flows if lab3.isps[1].public in f.sources())
        try:
            assert cli(lab3, "link", "drain", "isp2").returncode == 0
            links = status(lab3)
            assert int(str(links["isp2"]["connections"])) >= 1  # its flows still run
            shares = [float(str(link["share_pct"])) for link in links.values()]
            assert abs(sum(shares) - 100) < 1
            assert lab3.flows(count=60).per_isp["isp2"] == 0
            on_isp2.wait_replies(10)
            assert not on_isp2.broken()
            assert on_isp2.sources() == {lab3.isps[1].public}
            assert cli(lab3, "link", "undrain", "isp2").returncode == 0
            assert lab3.flows(count=90).per_isp["isp2"] > 0
        finally:
            for flow in flows:
                flow.__exit__(None, None, None)


def test_mode_switch_applies_to_new_connections_at_once(lab3: Lab) -> None:
    extra = '\n[policies.backup-only]\nstrategy = "failover"\nlinks = ["isp3"]\n'
    with LabDaemon(lab3, config(lab3, extra)):
        assert cli(lab3, "mode", "backup-only").returncode == 0
        assert lab3.flows(count=30).per_isp == {"isp1": 0, "isp2": 0, "isp3": 30}
        assert cli(lab3, "mode", "all").returncode == 0
        assert min(lab3.flows(count=90).per_isp.values()) > 0


def _table_handle(lab: Lab) -> str:
    listing = lab.router.run("nft", "-a", "list", "table", "inet", "multiwan").stdout
    found = re.search(r"table inet multiwan \{ # handle (\d+)", listing)
    assert found, listing
    return found.group(1)


def test_mode_switches_through_every_strategy_keep_the_table_and_established_flows(
    lab3: Lab,
) -> None:
    """Every strategy's chains and sets are in the table from the start, so `mode` to any
    policy, link or strategy rewrites one-rule chains only: the table is never replaced
    (its handle stays) and a connection made before keeps its link."""
    extra = '\n[policies.backup-only]\nstrategy = "failover"\nlinks = ["isp3"]\n'
    one_link = {"sticky", "least-loaded", "destination", "source", "failover"}
    with LabDaemon(lab3, config(lab3, extra)), LongFlow(lab3.clients[0]) as flow:
        flow.wait_replies(5)
        table, before = _table_handle(lab3), flow.sources()
        for mode in [*STRATEGIES, "backup-only", "isp2", "config"]:
            assert cli(lab3, "mode", mode).returncode == 0, mode
            # `packet` draws every packet again: only datagrams survive distinct NATs.
            udp = mode == "packet"
            result = lab3.flows("udp" if udp else "tcp", count=30, port=5353 if udp else 80)
            assert result.failed == 0, (mode, result)
            if mode in one_link:
                assert sorted(result.per_isp.values()) == [0, 0, 30], (mode, result)
            elif mode == "backup-only":
                assert result.per_isp == {"isp1": 0, "isp2": 0, "isp3": 30}
            elif mode == "isp2":
                assert result.per_isp == {"isp1": 0, "isp2": 30, "isp3": 0}
            elif mode not in ("route", "packet"):  # route hashes one address pair to one link
                assert min(result.per_isp.values()) > 0, (mode, result)
            assert _table_handle(lab3) == table, mode
        flow.wait_replies(10)
        assert not flow.broken()
        assert flow.sources() == before


def test_a_persisted_mode_survives_a_restart_and_a_reload(lab3: Lab) -> None:
    extra = '\n[policies.backup-only]\nstrategy = "failover"\nlinks = ["isp3"]\n'
    with LabDaemon(lab3, config(lab3, extra)):
        assert cli(lab3, "mode", "backup-only", "--persist").returncode == 0
    with LabDaemon(lab3, config(lab3, extra)) as daemon:
        assert lab3.flows(count=30).per_isp == {"isp1": 0, "isp2": 0, "isp3": 30}
        assert cli(lab3, "reload").returncode == 0
        daemon.wait_log(r"reloaded: .*; persisted mode in force: backup-only")
        assert lab3.flows(count=30).per_isp == {"isp1": 0, "isp2": 0, "isp3": 30}
        assert cli(lab3, "mode", "config", "--persist").returncode == 0
    with LabDaemon(lab3, config(lab3, extra)):
        assert min(lab3.flows(count=90).per_isp.values()) > 0


def test_only_root_controls_and_the_status_group_reads(lab3: Lab) -> None:
    extra = '\n[daemon]\nstatus_group = "nogroup"\n'
    with LabDaemon(lab3, config(lab3, extra)):
        read = cli(lab3, "status", "--json", user="nobody")
        assert read.returncode == 0, read.stderr
        refused = cli(lab3, "mode", "failover", user="nobody")
        assert refused.returncode == 1
        assert "permission denied: 'mode' needs root" in refused.stderr
    with LabDaemon(lab3, config(lab3)):
        outsider = cli(lab3, "status", user="nobody")
        assert outsider.returncode == 1
        assert "permission denied" in outsider.stderr


def test_metrics_are_scraped_over_http(lab3: Lab) -> None:
    with LabDaemon(lab3, config(lab3)) as daemon:
        lab3.flows(count=40)
        lab3.isps[1].blackhole()
        daemon.wait_log(r"link isp2: up -> down")
        fetch = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9560/metrics').read().decode())"
        text = ""
        for _ in range(30):  # the metrics view is refreshed once a second
            text = lab3.router.run(sys.executable, "-c", fetch).stdout
            if 'multiwan_link_transitions_total{link="isp2",state="down"}' in text:
                break
            time.sleep(0.2)
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        assert samples[("multiwan_link_state", (("link", "isp2"), ("state", "down")))] == 1
        assert samples[("multiwan_link_state", (("link", "isp1"), ("state", "up")))] == 1
        assert (
            samples[("multiwan_link_transitions_total", (("link", "isp2"), ("state", "down")))] == 1
        )
        total = sum(
            v for (name, _), v in samples.items() if name == "multiwan_link_connections_total"
        )
        assert total >= 40
        assert samples[("multiwan_policy_update_seconds_count", ())] >= 1


def test_cli_says_so_when_no_daemon_runs(lab3: Lab) -> None:
    result = cli(lab3, "status")
    assert result.returncode == 4
    assert "multiwan is not running" in result.stderr
