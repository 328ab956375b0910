"""Cost that grows with the number of links: one state change applied to the kernel, and
probing every link's targets every 200 ms (CPU and memory of the daemon)."""

import json
import subprocess
import sys
import time
from pathlib import Path

from multiwan.lab.daemon import LabDaemon
from multiwan.lab.netns import Netns, unique_tag
from multiwan.lab.topology import Lab

PREFIX = "mwb-"
TARGETS = ("203.0.113.10", "203.0.113.11", "203.0.113.12", "203.0.113.13")


def _links_world(count: int, prefix: str = PREFIX) -> Lab:
    """A router with `count` uplinks, all to one ISP namespace holding 4 probe targets."""
    tag = unique_tag()
    router, isp = Netns(f"{prefix}{tag}-r"), Netns(f"{prefix}{tag}-isp")
    state = Path(f"/run/multiwan-lab/{prefix}{tag}")
    state.mkdir(parents=True, exist_ok=True)
    lab = Lab(prefix, tag, router, [], [], isp, state, namespaces=[router, isp])
    try:
        batch_r, batch_i = [], []
        for k in range(1, count + 1):
            subprocess.run(["ip", "-n", router.name, "link", "add", f"wan{k}", "type", "veth",
                            "peer", "name", f"r{k}", "netns", isp.name], check=True)  # fmt: skip
            batch_r += [f"addr add 10.100.{k}.2/30 dev wan{k}", f"link set wan{k} up"]
            batch_i += [f"addr add 10.100.{k}.1/30 dev r{k}", f"link set r{k} up"]
        batch_i += [f"addr add {t}/32 dev lo" for t in TARGETS]
        router.run("ip", "-batch", "-", input="\n".join(batch_r) + "\n")
        isp.run("ip", "-batch", "-", input="\n".join(batch_i) + "\n")
    except BaseException:
        lab.cleanup()
        raise
    return lab


def _config(lab: Lab, count: int, interval: float | None, strategy: str = "balance") -> str:
    lines = ['default_policy = "all"', ""]
    if interval:
        targets = ", ".join(f'{{ kind = "icmp", host = "{t}" }}' for t in TARGETS)
        lines += ["[health]", f"targets = [{targets}]", f"interval = {interval}",
                  f"timeout = {interval}", ""]  # fmt: skip
    names = []
    for k in range(1, count + 1):
        lines += [f"[links.l{k}]", f'interface = "wan{k}"', f'gateway = "10.100.{k}.1"', ""]
        names.append(f'"l{k}"')
    lines += ["[policies.all]", f'strategy = "{strategy}"', f"links = [{', '.join(names)}]", ""]
    return "\n".join(lines)


TIME_UPDATES = """
import json, statistics, sys, time
from multiwan.config.load import load_config
from multiwan.core.compile import dynamic_state
from multiwan.core.ownership import TABLE_FALLBACK
from multiwan.core.plan import dynamic_plan
from multiwan.kernel.reconcile import Kernel
from multiwan.operations import intent
from pathlib import Path

# The daemon's fast path (Engine.update_policies), step by step.
config = load_config(Path(sys.argv[1]))
kernel = Kernel(Path(sys.argv[2]))
found = intent(config, kernel)
links, local = found.links, found.local
applied = dict(found.desired.nft.digests.dynamic)
fallback = frozenset(r for r in found.desired.routes if r.table == TABLE_FALLBACK)
names = sorted(config.links)
nft_samples, all_samples = [], []
for i in range(200):
    live = set(names) - {names[i % len(names)]}
    started = time.perf_counter()
    dynamic = dynamic_state(config, links, live, None, local)
    plan, digests = dynamic_plan(dynamic.rules, dynamic.fallback, applied, fallback)
    chains, routes = plan.split_nft()
    kernel.execute(chains)
    nft_samples.append(time.perf_counter() - started)
    kernel.execute(routes)
    all_samples.append(time.perf_counter() - started)
    applied, fallback = digests, dynamic.fallback
print(json.dumps({"median_ms": statistics.median(nft_samples) * 1000,
                  "p95_ms": sorted(nft_samples)[int(len(nft_samples) * 0.95)] * 1000,
                  "with_fallback_median_ms": statistics.median(all_samples) * 1000}))
"""


def update_time(count: int, strategy: str = "balance", prefix: str = PREFIX) -> dict[str, float]:
    """Median time to apply one link's state change (compile + one nft transaction) with
    the default policy's `strategy`."""
    lab = _links_world(count, prefix)
    try:
        lab.multiwan("apply", config=_config(lab, count, None, strategy))
        out = lab.router.run(sys.executable, "-c", TIME_UPDATES,
                             str(lab.state_dir / "multiwan.toml"), str(lab.state_dir),
                             timeout=600)  # fmt: skip
        result: dict[str, float] = json.loads(out.stdout)
        return result
    finally:
        lab.cleanup()


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / 100, int(fields[12]) / 100  # utime, stime: clock ticks


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def probe_cost(count: int, interval: float = 0.2, seconds: float = 20.0) -> dict[str, float]:
    """CPU share of one core and RSS of a daemon probing `count` links x 4 targets."""
    lab = _links_world(count)
    try:
        with LabDaemon(lab, _config(lab, count, interval)) as daemon:
            assert daemon.proc is not None
            pid = daemon.proc.pid
            time.sleep(3)
            (user0, system0), t0 = _cpu_seconds(pid), time.monotonic()
            time.sleep(seconds)
            (user1, system1), span = _cpu_seconds(pid), time.monotonic() - t0
            rss = _rss_mb(pid)
            down = sum("-> down" in line for _, line in daemon.lines)
        user, system = (user1 - user0) / span * 100, (system1 - system0) / span * 100
        return {"cpu_pct": user + system, "user_pct": user, "system_pct": system,
                "rss_mb": rss, "false_downs": down,
                "probes_per_s": count * len(TARGETS) / interval}  # fmt: skip
    finally:
        lab.cleanup()
