"""Run every benchmark and write docs/benchmarks.md (machine and date included).

    sudo .venv/bin/python -m bench.run            # everything (~5 minutes)
    sudo .venv/bin/python -m bench.run --quick    # fewer trials

All traffic stays inside namespaces named mwb-*, deleted at the end (stale ones first).
"""

import argparse
import datetime
import os
import platform
import statistics
from pathlib import Path

from bench.failover import measure_failover
from bench.loss import measure_loss
from bench.passive import goal as passive_goal
from bench.passive import measure_passive, measure_watch_cost, watch_section
from bench.passive import section as passive_section
from bench.scale import probe_cost, update_time
from bench.services import measure_services
from bench.tunnels import tunnel_section
from multiwan.config.schema import STRATEGIES
from multiwan.lab.netns import cleanup_stale

OUT = Path(__file__).parent.parent / "docs" / "benchmarks.md"


def _machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return (
        f"{os.cpu_count()} x {cpu}, kernel {platform.release()}, Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    cleanup_stale("mwb-")
    trials = 2 if args.quick else 5
    lines = [
        "# Benchmarks",
        "",
        f"Measured {datetime.date.today()} on {_machine()} (shared machine: read ratios and "
        "orders of magnitude). Regenerate with `sudo .venv/bin/python -m bench.run`.",
        "",
    ]

    targets: list[tuple[str, str, bool]] = []  # what the issues ask, what we measured, met?
    failover = measure_failover(trials)
    moved = statistics.median(failover.samples["blackhole -> traffic moved"])
    carrier = max(failover.samples["carrier loss -> traffic moved"])
    deleted = max(failover.samples["interface deleted -> traffic moved"])
    targets += [
        ("failover, ISP forwards nothing: median < 1 s", f"{moved * 1000:.0f} ms", moved < 1),
        ("carrier loss acted on < 100 ms", f"{carrier * 1000:.0f} ms (max)", carrier < 0.1),
        ("interface deletion acted on < 100 ms", f"{deleted * 1000:.0f} ms (max)", deleted < 0.1),
        ("established flows on healthy links disrupted: 0", str(failover.disrupted),
         failover.disrupted == 0),
    ]  # fmt: skip
    lines += [
        "## Failover and failback (3 ISPs, ICMP probe every 200 ms, fall=3, rise=3)",
        "",
        "From the fault or repair to the new policy being in the kernel (daemon log); each",
        "step is then checked with 30-60 real new connections.",
        "",
        "| event | median ms | max ms | trials |",
        "| --- | ---: | ---: | ---: |",
        *[f"| {name} | {median} | {worst} | {n} |" for name, median, worst, n in failover.rows()],
        "",
        f"Established connections on healthy links: {failover.healthy_flows} watched through "
        f"every fault above, {failover.disrupted} disrupted. Connection checks that failed: "
        f"{len(failover.checks_failed)} {'; '.join(failover.checks_failed)}",
        "",
    ]

    passive = measure_passive(trials)
    targets.append(passive_goal(passive))
    lines += passive_section(passive)
    lines += watch_section(measure_watch_cost())

    loss = measure_loss(seconds=10 if args.quick else 20)
    rate = loss.failed / max(loss.connections, 1)
    targets += [
        ("20 % loss: settles once, no flapping", f"{len(loss.transitions)} change(s)",
         len(loss.transitions) == 1),
        ("20 % loss: < 2 % of new connections fail", f"{rate:.2%}", rate < 0.02),
    ]  # fmt: skip
    lines += [
        "## 20 % packet loss on one link",
        "",
        "3 ICMP targets, window 30 rounds, degraded above 10 % loss, down above 50 %,",
        '`degraded_action = "last_resort"`; new connections opened all along.',
        "",
        f"- state changes of the lossy link: {len(loss.transitions)} "
        f"({'; '.join(loss.transitions) or 'none'})",
        f"- time to settle: {loss.time_to_settle:.1f} s"
        if loss.time_to_settle
        else "- never settled",
        f"- new connections: {loss.connections}, failed {loss.failed} ({rate:.2%})",
        "",
    ]

    lines += [
        "## One state change applied to the kernel",
        "",
        "The daemon's fast path: compile the dynamic state, diff it against what is applied,",
        "apply the changed one-rule chains in one nft transaction (in-process libnftables;",
        "this moves forwarded traffic), then the fallback table's route (the router's own new",
        "sockets; netlink, read back). 200 changes each.",
        "",
        "| links | nft step median ms | nft step p95 ms | with fallback route, median ms |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for count in (4, 64):
        result = update_time(count)
        lines.append(
            f"| {count} | {result['median_ms']:.2f} | {result['p95_ms']:.2f} "
            f"| {result['with_fallback_median_ms']:.2f} |"
        )
        targets.append((f"one state change applied < 10 ms ({count} links)",
                        f"{result['median_ms']:.2f} ms", result["median_ms"] < 10))  # fmt: skip
    lines += ["", "## One state change per strategy", "",
              "The same fast path, with the default policy's strategy (`route`: its step is",
              "the route, so see the last column). Median ms of 200 changes.", "",
              "| strategy | nft step, 4 links | with routes, 4 | nft step, 64 links "
              "| with routes, 64 |", "| --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for strategy in STRATEGIES:
        cells = []
        for count in (4, 64):
            result = update_time(count, strategy)
            cells += [f"{result['median_ms']:.2f}", f"{result['with_fallback_median_ms']:.2f}"]
        lines.append(f"| {strategy} | {' | '.join(cells)} |")
    lines += ["", "## Probing cost (4 ICMP targets per link, every 200 ms, 20 s)", "",
              "CPU is the daemon's user plus system time (from /proc/PID/stat).", "",
              "| links | probes/s | CPU % of one core | of which user / system | RSS MB "
              "| false downs |",
              "| ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for count in (4, 64):
        cost = probe_cost(count, seconds=10 if args.quick else 20)
        lines.append(
            f"| {count} | {cost['probes_per_s']:.0f} | {cost['cpu_pct']:.1f} | "
            f"{cost['user_pct']:.1f} / {cost['system_pct']:.1f} | "
            f"{cost['rss_mb']:.1f} | {cost['false_downs']:.0f} |"
        )
        if count == 64:
            targets += [
                ("probing 64 links x 4 targets / 200 ms: < 10 % of a core",
                 f"{cost['cpu_pct']:.1f} %", cost["cpu_pct"] < 10),
                ("daemon RSS < 60 MB (64 links)", f"{cost['rss_mb']:.1f} MB", cost["rss_mb"] < 60),
            ]  # fmt: skip
    services = measure_services(rounds=4 if args.quick else 12, trials=2 if args.quick else 5)
    lines += [
        "",
        "## Inbound service balancing (3 SMTP-like backends, checks every 100 ms, fall=2)",
        "",
        "Connections per second from one client, 2000 per run at 50 in flight, runs",
        "interleaved: through the virtual IP (DNAT by multiwan) against the client spreading",
        "itself over the same backends directly.",
        "",
        f"- through the VIP: median {statistics.median(services.vip_cps):.0f}/s "
        f"(runs: {', '.join(f'{v:.0f}' for v in services.vip_cps)})",
        f"- direct: median {statistics.median(services.direct_cps):.0f}/s "
        f"(runs: {', '.join(f'{v:.0f}' for v in services.direct_cps)})",
        f"- ratio VIP / direct (median of back-to-back pairs): {services.ratio:.2f}",
        "",
        "From a backend's death to the balancer no longer giving it new connections:",
        "",
        "| failure | median ms | max ms | trials |",
        "| --- | ---: | ---: | ---: |",
        *[
            f"| {kind} | {statistics.median(v) * 1000:.0f} | {max(v) * 1000:.0f} | {len(v)} |"
            for kind, v in services.death.items()
        ],
    ]
    worst = max(max(v) for v in services.death.values())
    targets += [
        ("service: VIP / direct connections per second >= 0.98", f"{services.ratio:.2f}",
         services.ratio >= 0.98),
        ("service: dead backend gets no new connections < 0.5 s", f"{worst * 1000:.0f} ms (max)",
         worst < 0.5),
    ]  # fmt: skip
    section, rows = tunnel_section(trials=1 if args.quick else 2)
    lines += ["", *section]
    targets += rows
    summary = ["## Against the targets", "", "| target | measured | met |", "| --- | --- | --- |"]
    summary += [
        f"| {name} | {value} | {'yes' if met else '**no**'} |" for name, value, met in targets
    ]
    lines[4:4] = [*summary, ""]
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(OUT.read_text())


if __name__ == "__main__":
    main()
