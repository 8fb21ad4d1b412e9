"""One vipgate as the net_memif server and vipgen runs against it: what the single-purpose
benches (idle_bench.py, flood_bench.py) share. The suite proper has its own process handling
(processes.py: process groups, parent-death signals); these benches start one gateway at a
time and stop it before the next, so a plain child process is enough."""
import json
import os
import shutil
import signal
import subprocess
import time

from .logparse import RUNNING
from .topology import GEN_CPU

START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30


class Gateway:
    """vipgate started with `config_path`; `with Gateway(...) as gateway:` returns once its
    workers run and stops it (SIGTERM, then SIGKILL) on the way out, whatever happens."""

    def __init__(self, binary, config_path, log_path, extra_args=()):
        self.binary, self.config_path, self.log_path = binary, config_path, log_path
        self.extra_args = list(extra_args)
        self.process = None

    def __enter__(self):
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([self.binary, "--config", self.config_path, *self.extra_args],
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not RUNNING.search(self.log_text()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"vipgate did not start ({self.log_path}):\n{self.log_text()[-2000:]}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


def run_vipgen(binary, file_prefix, socket_path, config_path, options, timeout_s, port_args=""):
    """vipgen as the memif client on GEN_CPU with `options` (pattern, rate, duration, ...; --json
    is added); `port_args` is appended to its memif device string (e.g. ",mac=..."). Returns (its JSON report, exit status, stderr tail); raises when it printed none.
    The EAL runtime directory is removed afterwards."""
    argv = [binary, "--eal",
            f"--no-huge -m 1024 --no-pci --no-shconf --no-telemetry --file-prefix {file_prefix} "
            f"--lcores 0@{GEN_CPU},1@{GEN_CPU}",
            "--port", f"net_memif0,role=client,socket={socket_path}{port_args}", "--config", config_path,
            *[str(o) for o in options], "--json"]
    try:
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout_s)
    finally:
        shutil.rmtree(os.path.join("/var/run/dpdk", file_prefix), ignore_errors=True)
    start = result.stdout.find("{")
    if start < 0:
        raise RuntimeError(f"vipgen printed no JSON (exit {result.returncode}):\n{result.stderr[-2000:]}")
    return json.loads(result.stdout[start:]), result.returncode, result.stderr[-2000:]
