"""The operations behind `plan`, `apply`, `flush` and the daemon: compose config, discovery,
compiler, diff and executor. Kept apart from the CLI so the daemon shares every step."""

from collections.abc import Mapping, Set
from dataclasses import dataclass, replace

from multiwan.config.schema import Config
from multiwan.core.compile import compile_state
from multiwan.core.links import ResolvedLink, resolve_links
from multiwan.core.model import DesiredState, Family, Sysctl
from multiwan.core.plan import Plan, diff, flush_plan
from multiwan.core.pools import Seated
from multiwan.core.strategy import Availability
from multiwan.kernel.reconcile import ApplyError, Kernel


@dataclass(frozen=True)
class Intent:
    """A plan together with what it was computed from (for reports and the daemon)."""

    plan: Plan
    desired: DesiredState
    links: list[ResolvedLink]
    local: Mapping[Family, str]


def intent(
    config: Config,
    kernel: Kernel,
    live: Availability | None = None,
    backends: Mapping[str, Set[str]] | None = None,
    unroutable: Set[str] = frozenset(),
    seated: Seated | None = None,
) -> Intent:
    """What `apply` would do now. `live=None` treats every enabled link as live, and
    `backends=None` every service backend; links in `unroutable` are left unrouted;
    `seated`: the clients of least-loaded policies (the daemon's; none: all newcomers).

    Sysctls multiwan changed earlier but no longer needs (a link was removed) go back to
    the values recorded before the first change.
    """
    interfaces = [link.interface for link in config.links.values()]
    links = resolve_links(config, kernel.interface_facts(interfaces), unroutable)
    local = kernel.local_addresses(interfaces)
    everyone = Availability(frozenset(config.links))
    desired = compile_state(config, links, live or everyone, backends, local, seated)
    wanted = {s.key for s in desired.sysctls}
    restore = {Sysctl(k, v) for k, v in kernel.journal.load().items() if k not in wanted}
    desired = replace(desired, sysctls=desired.sysctls | restore)
    actual = kernel.read_actual(s.key for s in desired.sysctls)
    return Intent(diff(desired, actual), desired, links, local)


def apply_per_link(
    config: Config,
    kernel: Kernel,
    live: Availability | None = None,
    backends: Mapping[str, Set[str]] | None = None,
    seated: Seated | None = None,
) -> tuple[Intent, dict[str, str]]:
    """Apply, leaving out each link whose routes or rules the kernel refuses (a modem whose
    gateway it will not take must not keep the others offline), with why per left-out link.
    Each attempt is atomic, so what is applied is always a whole, consistent state."""
    refused: dict[str, str] = {}
    while True:
        found = intent(config, kernel, live, backends, frozenset(refused), seated)
        try:
            kernel.execute(found.plan)
        except ApplyError as exc:
            culprit = next((link.name for link in found.links if link.table == exc.table), None)
            if culprit is None or culprit in refused:
                raise
            refused[culprit] = str(exc)
            continue
        return found, refused


def flush_intent(kernel: Kernel) -> Plan:
    """Everything multiwan owns removed, recorded sysctl originals put back."""
    originals = kernel.journal.load()
    return flush_plan(kernel.read_actual(originals), originals)


def flush(kernel: Kernel) -> Plan:
    plan = flush_intent(kernel)
    kernel.execute(plan)
    kernel.journal.forget(set(kernel.journal.load()))
    return plan
