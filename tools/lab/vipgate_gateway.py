"""vipgate as the lab's gateway: config file, start with AF_XDP (AF_PACKET fallback), reload, stop.

vipgate runs inside the gateway namespace with its worker on CPU 1 and its control thread on CPU 0
(`--lcores 0@0,1@1`). Its two ports bind p0/p1 by interface name; it keeps the veths' own MACs and
resolves clients and backends by ARP (no static neighbors). Which PMD ran is `Vipgate.pmd`:
AF_XDP first; if vipgate cannot start on it, AF_PACKET, and the reason is kept in `fallback_reason`.
"""
import os
import re
import signal
import sys
import time

from . import netns, topology

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from vipgate_harness import toml_dumps  # noqa: E402  (the tests' TOML writer)

PMDS = {"af_xdp": "net_af_xdp{n},iface={iface}", "af_packet": "net_af_packet{n},iface={iface},qpairs=1"}
WORKER_CPU = 1


def config(lab, services, nat_mode, pmd, file_prefix, cluster=None, tables=None, port_options=None):
    """cluster: the [cluster] table (e.g. {"client_ranges": [...]}); None or empty: left out.
    tables: more top-level tables by name (e.g. {"dns": {...}}).
    port_options: more keys per port name (e.g. {"p0": {"kernel_interface": "vg-p0"}})."""
    ports = [("p0", topology.GW_CLIENT_IP), ("p1", topology.GW_SERVER_IP)]
    document = {
        "eal": {"args": ["--no-huge", "-m", "1024", "--no-pci", "--no-shconf", "--no-telemetry",
                         "--file-prefix", file_prefix, f"--lcores=0@0,1@{WORKER_CPU}"]},
        "dataplane": {"worker_lcores": [1], "nat_mode": nat_mode, "stats_interval_ms": 1000},
        "conntrack": {"capacity": 262144},
        "snat": {"addresses": [topology.GW_SERVER_IP]},
        "ports": [{"name": name, "device": PMDS[pmd].format(n=n, iface=name), "addresses": [f"{address}/24"],
                   **(port_options or {}).get(name, {})}
                  for n, (name, address) in enumerate(ports)],
        "services": services,
    }
    if cluster:
        document["cluster"] = cluster
    document.update(tables or {})
    return document


class Vipgate:
    def __init__(self, lab, exe, workdir):
        self.lab, self.exe, self.workdir = lab, exe, workdir
        self.config_path = os.path.join(workdir, "vipgate.toml")
        self.log_path = None
        self.process = None
        self.pmd = None
        self.fallback_reason = None
        self.nat_mode = None
        self.cluster = {}   # the [cluster] table, written by start() and reload()
        self.tables = {}    # more top-level tables (e.g. "dns"), written likewise
        self.port_options = {}  # more keys per port name (e.g. "kernel_interface")
        self.arguments = []  # more command-line arguments (e.g. --api-socket PATH)

    def write(self, services):
        text = toml_dumps(config(self.lab, services, self.nat_mode, self.pmd, self.file_prefix, self.cluster,
                                 self.tables, self.port_options))
        with open(self.config_path + ".tmp", "w") as f:
            f.write(text)
        os.replace(self.config_path + ".tmp", self.config_path)

    def start(self, services, nat_mode="fullnat", pmd=None, nice=0):
        """Starts vipgate; pmd None: AF_XDP, else AF_PACKET when AF_XDP does not come up. A negative
        `nice` stands in for a dedicated core on a shared machine (the worker is an ordinary thread):
        it applies to the process and to its scheduler autogroup (vipgate has its own session, and
        with autogroups a session competes with every other session as one, whatever its nice)."""
        self.nat_mode = nat_mode
        self.lab.route_clients_back(nat_mode == "dnat")
        for candidate in [pmd] if pmd else ["af_xdp", "af_packet"]:
            self.pmd = candidate
            self.file_prefix = f"{self.lab.ns.base}-{candidate}"
            self.write(services)
            self.log_path = os.path.join(self.workdir, f"vipgate-{candidate}.log")
            command = ["nice", "-n", nice, self.exe, "--config", self.config_path, *self.arguments]
            self.process = self.lab.ns.spawn("gw", command, log_path=self.log_path)
            if nice and os.path.exists(f"/proc/{self.process.pid}/autogroup"):
                with open(f"/proc/{self.process.pid}/autogroup", "w") as f:
                    f.write(str(nice))
            try:
                self.wait_for(r"\d+ worker\(s\) running", timeout=30)
                return self
            except RuntimeError as error:
                self.stop()
                self.fallback_reason = f"{candidate}: {str(error).splitlines()[-1]}"
                if pmd:
                    raise
        raise RuntimeError(f"vipgate started on no PMD; last log: {self.log_path}")

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_for(self, pattern, timeout=10.0, after=0):
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            match = regex.search(text, after)
            if match:
                return match
            if self.process.poll() is not None:
                tail = "\n".join(text.splitlines()[-15:])
                raise RuntimeError(f"vipgate exited ({self.process.returncode}) before /{pattern}/:\n{tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"vipgate did not log /{pattern}/ in {timeout} s (log {self.log_path})")
            time.sleep(0.05)

    def reload(self, services):
        """Rewrites the config, sends SIGHUP, waits until every worker uses the new generation."""
        offset = len(self.log_text())
        self.write(services)
        self.process.send_signal(signal.SIGHUP)
        self.wait_for(r"update applied: generation \d+|reload rejected.*", after=offset)
        rejected = re.search(r"reload rejected.*", self.log_text()[offset:])
        if rejected:
            raise RuntimeError(f"vipgate {rejected.group(0)}")

    def stop(self):
        """SIGTERM; returns the log (with the final counters)."""
        if self.process:
            netns.terminate(self.process, name="vipgate")
        return self.log_text() if self.log_path else ""
