"""Fault injection against the real daemon in namespaces: ordinary failures of a router (a
state file that cannot be written, a tool that is missing, a busy port, hostile or broken
clients, corrupt files) never stop the daemon. Each test ends by checking that the daemon
still does its job: a blackholed link leaves within its detection budget."""

import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence

import pytest

from multiwan.lab.configs import lab_config, probe_health
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.longflow import LongFlow
from multiwan.lab.observe import foreign_state, owned_sysctls
from multiwan.lab.topology import Lab
from tests.conftest import TEST_PREFIX

pytestmark = pytest.mark.lab

DETECTION_BUDGET = 3.0  # seconds: 3 failed rounds of 0.2 s, with room for a busy machine


def config(lab: Lab, extra: str = "") -> str:
    return lab_config(lab, health=probe_health(lab), extra=extra)


FOREIGN: dict[int, dict[str, str]] = {}  # per lab: what multiwan does not own, before


@pytest.fixture(autouse=True)
def foreign_before(lab3: Lab) -> None:
    FOREIGN[id(lab3)] = foreign_state(lab3)


def still_fails_over(lab: Lab, daemon: LabDaemon, isp: int = 2, inside: Sequence[str] = ()) -> None:
    """After the fault: the daemon is alive, takes a blackholed link out in time, new
    connections all work through the other links, established ones on the healthy links
    are untouched, and nothing outside multiwan's ownership changed (`inside`: how to enter the
    daemon's mount namespace, where its journal is)."""
    assert daemon.proc is not None
    assert daemon.proc.poll() is None, daemon.log()
    name, public = lab.isps[isp].name, lab.isps[isp].public
    held = [LongFlow(lab.clients[0]).__enter__() for _ in range(6)]
    try:
        fault = time.monotonic()
        lab.isps[isp].blackhole()
        down = daemon.wait_log(rf"link {name}: up -> down", after=fault)
        assert down - fault < DETECTION_BUDGET, daemon.log()
        flows = lab.flows(count=30, timeout=1.0)
        assert flows.failed == 0, flows
        assert flows.per_isp[name] == 0, flows
        for flow in (f for f in held if public not in f.sources()):
            flow.wait_replies(3)
            assert not flow.broken(), "an established flow on a healthy link broke"
            assert len(flow.sources()) == 1, flow.sources()
    finally:
        for flow in held:
            flow.__exit__(None, None, None)
    assert daemon.proc.poll() is None, daemon.log()
    assert "Traceback" not in daemon.log(), daemon.log()
    owned = owned_sysctls(lab, inside)

    def lines(state: dict[str, str], part: str) -> set[str]:
        return {line for line in state[part].splitlines() if line.split(" = ")[0] not in owned}

    before, after = FOREIGN[id(lab)], foreign_state(lab)
    changed = {
        part: (sorted(lines(before, part) - lines(after, part)),
               sorted(lines(after, part) - lines(before, part)))
        for part in before
        if lines(before, part) != lines(after, part)
    }  # fmt: skip
    assert not changed, f"a fault changed what multiwan does not own (before, after): {changed}"


def control(lab: Lab, *lines: bytes, user: str | None = None) -> list[dict[str, object]]:
    """Send raw request lines on one control connection; the replies, one per line."""
    script = (
        "import json, socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        f"s.connect({str(lab.state_dir / 'control.sock')!r})\n"
        "f = s.makefile('rb')\n"
        "for line in json.load(sys.stdin):\n"
        "    s.sendall(line.encode('latin-1'))\n"
        "    print(f.readline().decode().strip())\n"
    )
    argv = [sys.executable, "-c", script]
    if user:
        argv = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups", *argv]
    payload = json.dumps([line.decode("latin-1") for line in lines])
    out = lab.router.run(*argv, input=payload).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_state_file_that_cannot_be_written_is_logged_and_the_daemon_goes_on(lab3: Lab) -> None:
    with LabDaemon(lab3, config(lab3)) as daemon:
        (lab3.state_dir / "link-states.json").mkdir()  # a rename over it fails (EISDIR)
        (lab3.state_dir / "link-states.json" / "keep").touch()
        lab3.isps[0].blackhole()
        daemon.wait_log(r"link isp1: up -> down")
        daemon.wait_log(r"could not save link states to .*link-states\.json")
        still_fails_over(lab3, daemon)


def test_bad_control_requests_get_an_error_reply(lab3: Lab) -> None:
    with LabDaemon(lab3, config(lab3)) as daemon:
        replies = control(
            lab3,
            b'{"command": "weight", "args": {"link": "isp1"}}\n',
            b'{"command": "weight", "args": {"link": "isp1", "weight": "x"}}\n',
            b'{"command": "link", "args": {"link": ["isp1"], "action": "disable"}}\n',
            b'{"command": "mode", "args": {"mode": "balance", "extra": 1}}\n',
            b"[1, 2]\n",
            b'{"command": "weight", "args": {"link": "isp1", "weight": 3}}\n',
        )
        errors = [str(r.get("error")) for r in replies]
        assert errors[0] == "weight: 'weight' must be an integer, got None", replies
        assert errors[1] == "weight: 'weight' must be an integer, got 'x'", replies
        assert "'link' must be a text" in errors[2], replies
        assert errors[3] == "mode: unexpected argument 'extra'", replies
        assert errors[4].startswith("malformed request"), replies
        assert replies[5]["ok"] is True, replies
        huge = control(lab3, b'{"command": "status", "pad": "' + b"x" * 65536 + b'"}\n')
        assert [r["error"] for r in huge] == ["request too large: at most 16384 bytes"]
        still_fails_over(lab3, daemon)


def test_busy_metrics_port_is_logged_and_the_daemon_runs_without_metrics(lab3: Lab) -> None:
    holder = lab3.start(lab3.router, sys.executable, "-c", (
        "import socket, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 9560)); s.listen()\n"
        "print('bound', flush=True); time.sleep(300)\n"
    ))  # fmt: skip
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "bound"
    with LabDaemon(lab3, config(lab3)) as daemon:
        daemon.wait_log(r"metrics failed: .*Address already in use")
        still_fails_over(lab3, daemon)


def test_missing_conntrack_is_logged_and_the_daemon_goes_on(lab3: Lab) -> None:
    with LabDaemon(lab3, config(lab3), wrapper=["env", "PATH=/nonexistent"]) as daemon:
        lab3.isps[0].blackhole()
        daemon.wait_log(r"link isp1: up -> down")
        daemon.wait_log(r"link isp1: could not flush its connections: cannot run conntrack")
        answer = lab3.multiwan("status", "--json")
        assert json.loads(answer.stdout)["daemon"]["ready"] is True
        still_fails_over(lab3, daemon)


def test_many_idle_connections_of_a_user_starve_nothing(lab3: Lab) -> None:
    """1100 idle connections from `nobody`, more than the 1024 descriptors a daemon gets by
    default (it raises its soft limit to the hard one): the excess are refused, probes keep
    working, root still gets status. They used to take every descriptor: all links down."""
    extra = '\n[daemon]\nstatus_group = "nogroup"\n'
    limits = ["prlimit", "--nofile=1024:4096"]
    with LabDaemon(lab3, config(lab3, extra), wrapper=limits) as daemon:
        holder = lab3.start(lab3.router, "setpriv", "--reuid=nobody", "--regid=nogroup",
                            "--clear-groups", sys.executable, "-c", (
            "import resource, socket, time\n"
            "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))\n"
            "held, deadline = [], time.monotonic() + 15\n"
            "while len(held) < 1100 and time.monotonic() < deadline:\n"
            "    s = socket.socket(socket.AF_UNIX); s.settimeout(2)\n"
            f"    try: s.connect({str(lab3.state_dir / 'control.sock')!r}); held.append(s)\n"
            "    except OSError: s.close(); time.sleep(0.01)  # backlog full: again\n"
            "print('held', len(held), flush=True); time.sleep(300)\n"
        ))  # fmt: skip
        assert holder.stdout is not None
        assert holder.stdout.readline().startswith("held")
        status = lab3.multiwan("status", "--json")
        assert {link["state"] for link in json.loads(status.stdout)["links"]} == {"up"}
        still_fails_over(lab3, daemon)


def test_a_hook_that_forks_and_hangs_is_killed(lab3: Lab) -> None:
    hooks = lab3.state_dir / "hooks"
    hooks.mkdir()
    (hooks / "10-hang").write_text("#!/bin/sh\nsleep 1000 &\nsetsid sleep 1000 &\nsleep 1000\n")
    (hooks / "10-hang").chmod(0o755)
    extra = f'\n[daemon]\nhooks_dir = "{hooks}"\nhook_timeout = 0.5\n'
    with LabDaemon(lab3, config(lab3, extra)) as daemon:
        lab3.isps[0].blackhole()
        daemon.wait_log(r"link isp1: up -> down")
        daemon.wait_log(r"hook 10-hang killed after 0.5s")
        still_fails_over(lab3, daemon)


def test_corrupt_state_and_journal_files_are_reported_and_set_aside(lab3: Lab) -> None:
    (lab3.state_dir / "link-states.json").write_text('{"isp1": "up", ')
    (lab3.state_dir / "sysctl-originals.json").write_text("\x00garbage")
    with LabDaemon(lab3, config(lab3)) as daemon:
        daemon.wait_log(r"link state file .*link-states\.json is corrupt")
        daemon.wait_log(r"sysctl journal .*sysctl-originals\.json is corrupt")
        assert (lab3.state_dir / "sysctl-originals.json.corrupt").exists()
        still_fails_over(lab3, daemon)


def test_journal_keys_outside_interface_sysctls_are_never_written(lab3: Lab) -> None:
    """A planted journal key with `..` would make `flush` write any file as root."""
    target = lab3.state_dir / "pwned"
    key = "net/ipv4/conf/../../../.." + str(target)
    journal = {key: "1", "net/ipv4/conf/wan1/rp_filter": "2"}
    (lab3.state_dir / "sysctl-originals.json").write_text(json.dumps(journal))
    result = lab3.multiwan("flush", config=config(lab3), check=False)
    assert not target.exists()
    assert "ignoring invalid entries" in result.stderr, result
    assert lab3.router.run("sysctl", "-n", "net.ipv4.conf.wan1.rp_filter").stdout.strip() == "2"


def test_one_daemon_per_state_directory_and_only_a_private_one(lab3: Lab) -> None:
    with LabDaemon(lab3, config(lab3)) as daemon:
        second = lab3.multiwan("run", config=config(lab3), check=False)
        assert second.returncode == 1
        assert "another multiwan daemon is running" in second.stderr
        still_fails_over(lab3, daemon)
    lab3.state_dir.chmod(0o777)
    try:
        refused = lab3.multiwan("run", config=config(lab3), check=False)
    finally:
        lab3.state_dir.chmod(0o755)
    assert refused.returncode == 1
    assert "is writable by group or others (mode 777)" in refused.stderr


def test_a_slow_conntrack_dump_never_delays_a_failover(lab3: Lab) -> None:
    """`status` counts connections with conntrack; a dump of a big table takes seconds. It
    ran inside the engine: a 3 s dump delayed a transition by as much."""
    tools = lab3.state_dir / "tools"
    tools.mkdir()
    slow = tools / "conntrack"
    started = lab3.state_dir / "dump-started"
    slow.write_text(f'#!/bin/sh\ntouch {started}\nsleep 3\nexec /usr/sbin/conntrack "$@"\n')
    slow.chmod(0o755)
    path = f"PATH={tools}:/usr/sbin:/usr/bin:/sbin:/bin"
    with LabDaemon(lab3, config(lab3), wrapper=["env", path]) as daemon:
        done = threading.Event()

        def ask() -> None:
            while not done.is_set():
                lab3.multiwan("status", "--json")

        asker = threading.Thread(target=ask)
        asker.start()
        try:
            deadline = time.monotonic() + 10
            while not started.exists():  # a dump is under way
                assert time.monotonic() < deadline
                time.sleep(0.05)
            still_fails_over(lab3, daemon)
        finally:
            done.set()
            asker.join()
        answer = json.loads(lab3.multiwan("status", "--json").stdout)
        assert all("connections" in link for link in answer["links"])


def test_interfaces_deleted_and_recreated_during_reconciles(lab3: Lab) -> None:
    """Reloads (full reconciles reading every interface) while wan2 is deleted and re-created
    under them: a NetlinkError (ENODEV) between two netlink calls used to end the daemon."""
    isp2 = lab3.isps[1]
    with LabDaemon(lab3, config(lab3)) as daemon:
        done = threading.Event()

        def reload() -> None:
            while not done.is_set():
                daemon.send(signal.SIGHUP)
                time.sleep(0.15)  # about what a reload takes: no backlog

        reloader = threading.Thread(target=reload)
        reloader.start()
        try:
            for _ in range(15):
                lab3.delete_uplink(isp2)
                lab3.recreate_uplink(isp2, isp2.router_address)
        finally:
            done.set()
            reloader.join()
        back = time.monotonic()
        daemon.wait_log(r"link isp2: \w+ -> up", after=back, timeout=15)
        assert lab3.flows(count=90).per_isp["isp2"] > 0
        still_fails_over(lab3, daemon)


def test_a_full_state_directory_is_logged_and_the_daemon_goes_on(lab3: Lab) -> None:
    """The state directory is a 64 KiB tmpfs, mounted in the daemon's own mount namespace
    (`ip netns exec` gives each command a private one), then filled to the last byte."""
    state = lab3.state_dir
    mount = (
        f"cfg=$(cat {state}/multiwan.toml) && "
        f"mount -t tmpfs -o size=64k,mode=0755 {TEST_PREFIX}full {state} && "
        f'printf "%s\\n" "$cfg" > {state}/multiwan.toml && exec "$@"'
    )
    with LabDaemon(lab3, config(lab3), wrapper=["sh", "-c", mount, "sh"]) as daemon:
        assert daemon.proc is not None
        inside = ["nsenter", "-t", str(daemon.proc.pid), "-m"]
        lab3.router.run(*inside, "sh", "-c", f"dd if=/dev/zero of={state}/filler bs=4k; true")
        assert "multiwan.toml" in lab3.router.run(*inside, "ls", str(state)).stdout
        assert not (state / "filler").exists()  # the tmpfs is the daemon's alone
        lab3.isps[0].blackhole()
        daemon.wait_log(r"link isp1: up -> down")
        daemon.wait_log(r"could not save link states to .*: \[Errno 28\] No space left")
        status = lab3.router.run(*inside, sys.executable, "-m", "multiwan", "--state-dir",
                                 str(state), "status", "--json")  # fmt: skip
        assert json.loads(status.stdout)["daemon"]["ready"] is True
        still_fails_over(lab3, daemon, inside=inside)


def test_killed_during_start_and_apply_then_restarted(lab3: Lab) -> None:
    """kill -9 at points spread over start-up (imports, first reconcile, apply): the next
    daemon takes the lock and the socket, reconciles what it finds, and does its job."""
    path = lab3.state_dir / "multiwan.toml"
    path.write_text(config(lab3))
    for delay in (0.4, 0.7, 1.0, 1.3, 1.6, 2.0):
        proc = lab3.start(lab3.router, sys.executable, "-m", "multiwan", "--state-dir",
                          str(lab3.state_dir), "-c", str(path), "run")  # fmt: skip
        time.sleep(delay)
        proc.kill()
        proc.wait()
    with LabDaemon(lab3, config(lab3)) as daemon:
        assert min(lab3.flows(count=60).per_isp.values()) > 0
        still_fails_over(lab3, daemon)


def test_ready_only_after_a_successful_apply_which_is_retried(lab3: Lab) -> None:
    """The state directory is full from the start, so the first apply cannot record the
    sysctls it changes and fails: no READY=1 to systemd, `status` says why, and the apply
    is retried with backoff until space is freed; then READY=1."""
    state = lab3.state_dir
    fill = (
        f"cfg=$(cat {state}/multiwan.toml) && "
        f"mount -t tmpfs -o size=64k,mode=0755 {TEST_PREFIX}full {state} && "
        f'printf "%s\\n" "$cfg" > {state}/multiwan.toml && '
        f'{{ dd if=/dev/zero of={state}/filler bs=4k 2>/dev/null; exec "$@"; }}'
    )
    notify_path = state.parent / f"{state.name}-notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        notify.settimeout(0.1)
        wrapper = ["env", f"NOTIFY_SOCKET={notify_path}", "sh", "-c", fill, "sh"]
        try:
            with LabDaemon(lab3, config(lab3), wrapper=wrapper) as daemon:
                assert daemon.proc is not None
                inside = ["nsenter", "-t", str(daemon.proc.pid), "-m"]
                daemon.wait_log(r"reconcile failed, kernel left as it was \(retrying\): .*"
                                r"No space left on device")  # fmt: skip
                status = lab3.router.run(*inside, sys.executable, "-m", "multiwan",
                                         "--state-dir", str(state), "status", "--json")  # fmt: skip
                told = json.loads(status.stdout)["daemon"]
                assert told["ready"] is False
                assert "No space left on device" in told["not_ready"]
                assert received(notify) == [
                    f"STATUS=not ready: {told['not_ready']}"
                ]  # and no READY=1
                lab3.router.run(*inside, "rm", f"{state}/filler")
                daemon.wait_log(r"INFO reconciled: ", timeout=70)
                deadline = time.monotonic() + 5
                messages: list[str] = []
                while "READY=1" not in messages and time.monotonic() < deadline:
                    messages += received(notify)
                assert "READY=1" in messages
                for isp in lab3.isps:  # down while they had no route: back after `rise`
                    daemon.wait_log(rf"link {isp.name}: down -> up")
                still_fails_over(lab3, daemon, inside=inside)
        finally:
            notify_path.unlink(missing_ok=True)


def received(sock: socket.socket) -> list[str]:
    """The datagrams waiting on `sock` (sd_notify messages)."""
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            return messages
