"""The programs the suite starts: each child in its own process group, output to files in the
scratch directory, killed with its whole group at the end, whatever happens; the two devices
under test (dpdk-testpmd, vipgate) on top of that."""
import ctypes
import os
import re
import signal
import subprocess
import time

from .formatting import log
from .logparse import RUNNING, log_entries, parse_final_counters, parse_intervals
from .results import TestpmdSummary, VipgateSummary
from .topology import DUT_CPU, write_atomic

ALL_CPUS = set(range(os.cpu_count() or 1))
START_TIMEOUT_S = 30
POLL_S = 0.05


class BenchError(Exception):
    pass


class Interrupted(BaseException):
    pass


def _child_setup():
    """In the child before exec: die with the driver (should it be killed without cleaning up),
    and drop the driver's own CPU pinning; each program places its threads with --lcores."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    try:
        os.sched_setaffinity(0, ALL_CPUS)
    except OSError:
        pass


def read_status(pid):
    """{field: kB} of /proc/PID/status memory fields."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                m = re.match(r"^(Vm\w+|Rss\w+):\s+(\d+) kB", line)
                if m:
                    values[m.group(1)] = int(m.group(2))
    except OSError:
        pass
    return values


class Process:
    """A child in its own process group (session), output to files in the scratch directory;
    killed with its whole group at the end, whatever happens. `resources` (the Suite) gives
    the scratch paths and keeps every process it started, for the final clean-up."""

    def __init__(self, resources, name, argv, stdout_path=None):
        self.resources, self.name, self.argv = resources, name, argv
        self.log_path = resources.scratch_path(f"{name}.log")
        self.stdout_path = stdout_path
        self.process = None
        self.started = None
        self._err = self._out = None

    def start(self):
        self._err = open(self.log_path, "wb")
        self._out = open(self.stdout_path, "wb") if self.stdout_path else None
        self.process = subprocess.Popen(self.argv, stdout=self._out or self._err, stderr=self._err,
                                        stdin=subprocess.DEVNULL, start_new_session=True,
                                        preexec_fn=_child_setup)
        self.started = time.monotonic()
        self.resources.processes.append(self)
        return self

    @property
    def pid(self):
        return self.process.pid

    @property
    def returncode(self):
        return None if self.process is None else self.process.returncode

    def running(self):
        """Without reaping: while the leader is unreaped its process group id cannot be reused,
        so stop() can always signal the group safely."""
        if self.process is None or self.process.returncode is not None:
            return False
        try:
            return os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return False

    def wait_exit(self, timeout):
        """True once the process has exited (not reaped), False after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def tail(self, lines=25):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def send_signal(self, number):
        self.process.send_signal(number)

    def _signal_group(self, number):
        try:
            os.killpg(self.process.pid, number)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace=15.0, number=signal.SIGTERM):
        """Signal the group, wait up to `grace`, SIGKILL what is left of the group, reap.
        Idempotent; returns the exit status."""
        if self.process is None:
            return None
        if self.process.returncode is None:
            if self.running():
                self._signal_group(number)
                if not self.wait_exit(grace):
                    log(f"{self.name} (pid {self.pid}) did not stop within {grace:.0f} s: SIGKILL")
            # The leader is at most a zombie here: its group id is still ours.
            self._signal_group(signal.SIGKILL)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                log(f"{self.name} (pid {self.pid}) survived SIGKILL for 30 s")
        for f in (self._err, self._out):
            if f:
                f.close()
        self._err = self._out = None
        return self.process.returncode


TESTPMD_FORWARDING = re.compile(r"packet forwarding - ports=\d+")
TESTPMD_TOTALS = re.compile(r"RX-packets:\s+(\d+)\s+RX-dropped:\s+(\d+)\s+RX-total:\s+(\d+)\s+TX-packets:\s+(\d+)\s+"
                            r"TX-dropped:\s+(\d+)")


def parse_testpmd_summary(exit_status, text):
    """testpmd's accumulated statistics and its own per-second peaks (--stats-period=1: a
    cross-check of vipgen's numbers)."""
    summary = TestpmdSummary(exit_status)
    marker = "Accumulated forward statistics"
    block = text[text.rfind(marker):] if marker in text else ""
    m = TESTPMD_TOTALS.search(block)
    if m:
        summary.rx_packets, summary.rx_dropped = int(m.group(1)), int(m.group(2))
        summary.tx_packets, summary.tx_dropped = int(m.group(4)), int(m.group(5))
    summary.peak_rx_pps = max((int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", text)), default=None)
    summary.peak_tx_pps = max((int(x) for x in re.findall(r"Tx-pps:\s+(\d+)", text)), default=None)
    return summary


def wait_started(process, ready, name, not_ready, timeout):
    """Polls the log until `ready` matches; raises BenchError if the process exits or the time is
    up ("NAME NOT_READY within T s")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = process.log_text()
        if ready.search(text):
            return
        if not process.running():
            raise BenchError(f"{name} exited (status {process.stop()}) during start-up:\n{process.tail()}")
        time.sleep(POLL_S)
    raise BenchError(f"{name} {not_ready} within {timeout:.0f} s:\n{process.tail()}")


class Testpmd:
    def __init__(self, suite, forward_mode, tag):
        self.suite, self.forward_mode = suite, forward_mode
        self.prefix = suite.file_prefix(tag)
        self.socket_path = suite.scratch_path(f"{tag}.sock")
        self.name = tag
        self.proc = None

    def argv(self):
        return [self.suite.testpmd, f"--lcores=0@{DUT_CPU},1@{DUT_CPU}", "--no-huge", "-m", "512", "--no-pci",
                "--no-shconf", "--no-telemetry", f"--file-prefix={self.prefix}",
                f"--vdev=net_memif0,role=server,socket={self.socket_path}", "--",
                f"--forward-mode={self.forward_mode}", "--no-mlockall", "--stats-period=1",
                "--total-num-mbufs=16384", "--rxd=1024", "--txd=1024"]

    def start(self):
        self.suite.remove_socket(self.socket_path)
        self.proc = Process(self.suite, self.name, self.argv()).start()
        wait_started(self.proc, TESTPMD_FORWARDING, "dpdk-testpmd", "did not start forwarding", START_TIMEOUT_S)
        return self

    def stop(self):
        status = self.proc.stop()
        self.suite.remove_socket(self.socket_path)
        return parse_testpmd_summary(status, self.proc.log_text())


class Vipgate:
    def __init__(self, suite, config, tag):
        self.suite, self.config, self.name = suite, config, tag
        self.config_path = suite.scratch_path(f"{tag}.toml")
        self.api_socket = suite.scratch_path(f"{tag}-api.sock")   # the API storm's way in
        self.metrics_address = ""   # the soak sets one (host:port) to sample vipgate's gauges
        self.proc = None

    def start(self, text=None):
        write_atomic(self.config_path, text if text is not None else self.config.text())
        self.suite.remove_socket(self.config.socket_path)
        argv = [self.suite.vipgate, "--config", self.config_path, "--api-socket", self.api_socket,
                "--metrics-address", self.metrics_address]
        self.proc = Process(self.suite, self.name, argv).start()
        # A 12.5M-entry table is written entry by entry at start-up: allow for it.
        timeout = START_TIMEOUT_S + self.config.capacity / 1e6 * 3
        wait_started(self.proc, RUNNING, "vipgate", "did not report its workers running", timeout)
        return self

    def memory(self):
        return read_status(self.proc.pid)

    def intervals(self):
        return parse_intervals(self.proc.log_text())

    def active_connections(self):
        intervals = self.intervals()
        return intervals[-1].active if intervals else None

    def wait_active(self, flows, timeout, stop_if=None):
        """Waits until the interval line reports at least `flows` tracked connections."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            active = self.active_connections()
            if active is not None and active >= flows:
                return True
            if not self.proc.running() or (stop_if and stop_if()):
                return False
            time.sleep(0.2)
        return False

    def stop(self):
        status = self.proc.stop(grace=30)
        self.suite.remove_socket(self.config.socket_path)
        text = self.proc.log_text()
        counters = parse_final_counters(text)
        drops = {k[5:]: v for k, v in (counters or {}).items() if k.startswith("drop.")}
        problems = [f"{level}: {message}" for _, level, message in log_entries(text)
                    if level in ("error", "critical")]
        return VipgateSummary(status, counters, drops, problems[:20])
