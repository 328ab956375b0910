"""One TCP flow striped per packet over two rate-limited uplinks through WireGuard tunnels,
against the faster uplink's tunnel alone (issue 11).

Each uplink is shaped by tbf in both directions (the router's egress to its ISP and the
ISP's egress to the router), with the same 4 ms of burst and 50 ms of queue: links alike
but for speed. The router runs the tunnels (wireguard-go) and a `packet` policy weighted
by speed; the server runs the script of `multiwan server-config`, so the return path is
striped alike. iperf3, 10 s per run, upload (client -> server) and download (-R). The LAN
host sends MTU-sized frames, as a NIC does (a veth would pass 64 KB TSO skbs, which nft
stripes as one packet; see README "Bonding to a server of your own").

    sudo .venv/bin/python -m bench.tunnels [TRIALS]     # prints the docs section
"""

import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field

from multiwan.lab.daemon import LabDaemon
from multiwan.lab.topology import SERVER_IP, Lab, lab_world
from multiwan.lab.tunnels import TunnelEnd, bonded_tunnels, tunnels_config

PREFIX = "mwb-"
PAIRS = ((20, 40), (30, 40))  # Mbit/s of uplinks 1 and 2
SECONDS = 10
DIRECTIONS = (("upload", False), ("download", True))


@dataclass
class TunnelBench:
    """Per (setup, direction): Mbit/s and retransmits of each run."""

    rates: tuple[int, int]
    mbits: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    retransmits: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def median(self, setup: str, direction: str) -> float:
        return statistics.median(self.mbits[(setup, direction)])

    def ratio(self, direction: str) -> float:
        return self.median("striped", direction) / self.median("alone", direction)

    @property
    def ceiling(self) -> float:
        """What a perfect bond could reach, as a multiple of the faster link."""
        return sum(self.rates) / max(self.rates)


def _shape(lab: Lab, rates: tuple[int, int]) -> None:
    for isp, rate in zip(lab.isps, rates, strict=True):
        isp.shape(rate)  # the download; the upload alike:
        lab.router.run("tc", "qdisc", "replace", "dev", isp.router_if, "root", "tbf", "rate",
                       f"{rate}mbit", "burst", f"{rate * 500}b", "latency", "50ms")  # fmt: skip


def _iperf(lab: Lab, reverse: bool) -> tuple[float, int]:
    argv = ["iperf3", "-c", SERVER_IP, "-t", str(SECONDS), "-J", *(["-R"] if reverse else [])]
    out = json.loads(lab.clients[0].run(*argv, timeout=SECONDS + 30).stdout)
    received = out["end"]["sum_received"]["bits_per_second"] / 1e6
    return received, int(out["end"]["sum_sent"].get("retransmits", 0))


def _run(lab: Lab, ends: list[TunnelEnd], keys: str, setup: str, result: TunnelBench,
         trials: int) -> None:  # fmt: skip
    weights = [rate // math.gcd(*result.rates) for rate in result.rates]
    config = tunnels_config(lab, ends, "packet", weights=weights)
    if setup == "alone":  # the faster link's tunnel only
        config = config.replace('links = ["vpn1", "vpn2"]', 'links = ["vpn2"]')
    script = lab.multiwan("server-config", "--key-dir", keys, "--device-prefix",
                          f"mws{lab.tag}", config=config).stdout  # fmt: skip
    lab.inet.run("sh", "-c", script)
    with LabDaemon(lab, config) as daemon:
        daemon.wait_log(r"link vpn2: \w+ -> up", timeout=30)
        time.sleep(1)
        for _ in range(trials):
            for direction, reverse in DIRECTIONS:
                mbits, retransmits = _iperf(lab, reverse)
                result.mbits.setdefault((setup, direction), []).append(mbits)
                result.retransmits.setdefault((setup, direction), []).append(retransmits)


def measure_tunnels(rates: tuple[int, int], trials: int = 2) -> TunnelBench:
    result = TunnelBench(rates)
    with lab_world(PREFIX, n_isps=2) as lab:
        ends, keys = bonded_tunnels(lab, 2)
        _shape(lab, rates)
        lab.clients[0].run("ip", "link", "set", "eth0", "gso_max_segs", "1")
        lab.start(lab.inet, "iperf3", "-s", "-B", SERVER_IP)
        lab.inet.wait_for(["sh", "-c", f"ss -ltn | grep -q '{SERVER_IP}:5201'"])
        for setup in ("alone", "striped"):
            _run(lab, ends, str(keys), setup, result, trials)
    return result


def tunnel_section(trials: int) -> tuple[list[str], list[tuple[str, str, bool]]]:
    """The docs section and the target rows."""
    lines = [
        "## One TCP flow striped over two tunnels (issue 11)",
        "",
        "WireGuard (wireguard-go) over each of two uplinks shaped by tbf, a `packet` policy",
        "weighted by speed, the server's return path from `multiwan server-config`; iperf3,",
        f"{SECONDS} s per run, {trials} runs each, against the faster uplink's tunnel alone.",
        "A bond can reach at most the sum of the two, shown as the ceiling.",
        "",
        "| uplinks Mbit/s | direction | alone Mbit/s | striped Mbit/s | ratio | ceiling "
        "| retransmits alone / striped (per run) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    targets = []
    for rates in PAIRS:
        bench = measure_tunnels(rates, trials)
        for direction, _ in DIRECTIONS:
            alone, both = bench.median("alone", direction), bench.median("striped", direction)
            retrans = [bench.retransmits[(s, direction)] for s in ("alone", "striped")]
            lines.append(
                f"| {rates[0]} + {rates[1]} | {direction} | {alone:.1f} | {both:.1f} "
                f"| {bench.ratio(direction):.2f} | {bench.ceiling:.2f} "
                f"| {', '.join(map(str, retrans[0]))} / {', '.join(map(str, retrans[1]))} |"
            )
            targets.append((
                f"one flow over {rates[0]} + {rates[1]} Mbit/s tunnels ({direction}): >= 1.6 x "
                f"the faster (ceiling {bench.ceiling:.2f} x)",
                f"{bench.ratio(direction):.2f} x", bench.ratio(direction) >= 1.6,
            ))  # fmt: skip
    return [*lines, ""], targets


if __name__ == "__main__":
    section, rows = tunnel_section(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    print("\n".join(section))
    print("\n".join(f"| {name} | {value} | {'yes' if met else '**no**'} |"
                    for name, value, met in rows))  # fmt: skip
