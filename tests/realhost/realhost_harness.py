"""Shared set-up of the realhost tests: the lab (tools/lab) with real servers and vipgate.

Each test script is run by meson as `python3 SCRIPT VIPGATE_EXE`. `run_test(name, body, ...)`
checks what the lab needs (root, nginx, socat, curl, ethtool, AF_XDP or AF_PACKET; missing: exit
77 = skipped, saying why), builds its own namespaces (`vgl<pid>-*`; stale ones of dead runs are
removed first), starts the servers and vipgate, runs `body(t)` and tears everything down whatever
happens. `t` offers the clients (`t.client(...)`, `t.hold(...)`), the lab and the gateway.
Tests that read vipgate's counters with vipctl (`SCRIPT VIPGATE_EXE VIPCTL_EXE ...`) use
`run_test_with_api(name, body, vipctl, ...)`: body(t, stats), stats() = `vipctl get stats`, and
t.vipctl(*arguments) runs any other `vipctl -o json` command.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from lab import servers, services, topology, vipgate_gateway  # noqa: E402

SKIP = 77
CLIENT_PROGRAM = os.path.join(ROOT, "tools", "lab", "client.py")
TOOLS = ["ip", "ethtool", "nginx", "socat", "curl", "ping", "taskset", "ss"]


class TestFailure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_for(what, condition, timeout=15):
    """condition()'s first true value, polled every 0.2 s; a failure naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        check(time.monotonic() < deadline, f"{what}: not within {timeout} s")
        time.sleep(0.2)


def vipctl_json(vipctl, socket_path, *arguments):
    """`vipctl -o json ARGUMENTS` (parsed) of the vipgate whose API socket is `socket_path`."""
    result = subprocess.run([vipctl, "--socket", socket_path, "-o", "json", *arguments], capture_output=True,
                            text=True, timeout=30)
    check(result.returncode == 0,
          f"vipctl {' '.join(arguments)}: exit {result.returncode}: {result.stderr.strip()}")
    return json.loads(result.stdout)


class Hold:
    """K long-lived keep-alive connections from a client; `probe()` makes one request on each."""

    def __init__(self, lab, host, port, count, client="c1"):
        self.process = lab.ns.spawn(client, ["/usr/bin/python3", CLIENT_PROGRAM, "hold", host, port, count],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.first = self._read()

    def _read(self):
        line = self.process.stdout.readline()
        check(line, f"the hold client ended (status {self.process.poll()})")
        return json.loads(line)

    def probe(self):
        self.process.stdin.write(b"probe\n")
        self.process.stdin.flush()
        return self._read()


class Test:
    def __init__(self, lab, gateway):
        self.lab, self.gateway = lab, gateway
        self.services = services.standard(lab)
        self.vipctl = None  # run_test_with_api: vipctl(*arguments), the JSON of `vipctl -o json ARGUMENTS`

    def client(self, command, host, port, count, client="c1"):
        out = self.lab.ns.run(client, "/usr/bin/python3", CLIENT_PROGRAM, command, host, port, count,
                              capture=True, timeout=120)
        return out.splitlines()

    def hold(self, host, port, count, client="c1"):
        return Hold(self.lab, host, port, count, client)

    def reload(self):
        self.gateway.reload(self.services)

    def service(self, name):
        return services.find(self.services, name)


def backend_of(answer):
    return answer.split()[0]


def spread(answers):
    return Counter(backend_of(a) for a in answers)


def missing_requirements(programs=()):
    if os.geteuid() != 0:
        return "needs root (network namespaces, AF_XDP/AF_PACKET)"
    missing = [tool for tool in TOOLS + list(programs) if shutil.which(tool) is None]
    if missing:
        return f"missing programs: {', '.join(missing)} (tools/setup.sh installs them)"
    if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        return "cannot list network namespaces"
    return None


def run_test(name, body, nat_mode="fullnat", backends=4, prepare=None, clients=1, programs=()):
    """prepare(t), when given, edits t.services (or t.gateway.cluster) before vipgate starts;
    clients: a count or a list of client addresses (topology.Lab); programs: what the test needs
    besides TOOLS (missing: skipped)."""
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print(f"usage: {sys.argv[0]} VIPGATE_EXECUTABLE")
        sys.exit(2)
    reason = missing_requirements(programs)
    if reason:
        print(f"SKIP: {reason}")
        sys.exit(SKIP)

    def interrupted(number, frame):
        raise TestFailure(f"interrupted by signal {number} (meson timeout?)")
    signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix=f"vipgate-realhost-{name}-")
    status, gateway = 1, None
    lab = topology.Lab(backends=backends, clients=clients)
    try:
        lab.up()
        servers.start(lab, workdir, cpu=0)
        gateway = vipgate_gateway.Vipgate(lab, sys.argv[1], workdir)
        test = Test(lab, gateway)
        if prepare:
            prepare(test)
        gateway.start(test.services, nat_mode=nat_mode, pmd=os.environ.get("VIPGATE_LAB_PMD"))
        log(f"vipgate up on {gateway.pmd}, {nat_mode}" +
            (f" (AF_XDP failed: {gateway.fallback_reason})" if gateway.fallback_reason else ""))
        body(test)
        status = 0
    except TestFailure as failure:
        print(f"FAIL: {failure}")
    except Exception:
        print("FAIL: unexpected exception")
        traceback.print_exc()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if gateway is not None and gateway.process is not None:
            text = gateway.stop()
            if status != 0:
                print("---- vipgate log (last lines) ----\n" + "\n".join(text.splitlines()[-50:]))
        lab.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{name}: {'PASS' if status == 0 else 'FAIL'} in {time.monotonic() - started:.1f} s", flush=True)
    sys.exit(status)


def run_test_with_api(name, body, vipctl, prepare=None, usage="", **options):
    """run_test (prepare and options as its) with vipgate listening on an API socket of its own
    for vipctl: body(t, stats), where stats() reads `vipctl get stats`. The socket file is removed
    whatever happens. Without an executable `vipctl` (the script's second argument): the usage
    line (its arguments after VIPCTL: `usage`) and exit 2."""
    if not vipctl or not os.access(vipctl, os.X_OK):
        print(f"usage: {sys.argv[0]} VIPGATE_EXECUTABLE VIPCTL_EXECUTABLE{usage}")
        sys.exit(2)
    socket_path = f"/tmp/vipgate-realhost-{name}-{os.getpid()}.sock"

    def prepare_with_api(t):
        t.gateway.arguments = ["--api-socket", socket_path, "--metrics-address", ""]
        t.vipctl = lambda *arguments: vipctl_json(vipctl, socket_path, *arguments)
        if prepare:
            prepare(t)

    try:
        run_test(name, lambda t: body(t, lambda: t.vipctl("get", "stats")), prepare=prepare_with_api, **options)
    finally:
        if os.path.exists(socket_path):
            os.unlink(socket_path)
