"""Load and CPU measurements for the comparison: wrk (HTTP keep-alive and one connection per
request), the UDP flood counted at the backends' interfaces, and CPU use from /proc/stat.

Clients run in c1 pinned to CPU 0 (with the servers); the gateway's work is meant for CPU 1.
/proc/stat is the whole machine: softirq time there is every namespace's packet processing
(client, bridges, gateway, backends), not the gateway's alone.
"""
import os
import re
import time

CLIENT_CPU = 0


class Cpu:
    """Per-CPU busy fractions and softirq between start() and stop()."""

    FIELDS = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]

    @staticmethod
    def _read():
        cpus = {}
        with open("/proc/stat") as f:
            for line in f:
                match = re.match(r"^cpu(\d+)\s+(.*)", line)
                if match:
                    cpus[int(match.group(1))] = dict(zip(Cpu.FIELDS, map(int, match.group(2).split())))
        return cpus

    def start(self):
        self.before, self.started = self._read(), time.monotonic()
        return self

    def stop(self):
        after = self._read()
        result = {}
        for cpu, values in after.items():
            delta = {k: values[k] - self.before[cpu][k] for k in self.FIELDS}
            total = sum(delta.values()) or 1
            result[cpu] = {"busy": 1 - (delta["idle"] + delta["iowait"]) / total,
                           "softirq": delta["softirq"] / total, "system": delta["system"] / total}
        return result


def process_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(lab, url, seconds, connections, close=False):
    """(requests/s, error description) from one wrk thread in c1."""
    command = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "2s"]
    if close:
        command += ["-H", "Connection: close"]
    out = lab.ns.run("c1", *command, url, capture=True, timeout=seconds + 30)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = []
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        errors.append(socket_errors.group(1).strip())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        errors.append(f"{non_2xx.group(1)} non-2xx")
    return rate, "; ".join(errors) or "none"


def udp_flood(lab, flood_exe, host, port, seconds):
    """(datagrams/s delivered to the backends, datagrams/s sent) for a one-way flood from c1."""
    before = sum(lab.read_counter(b, "eth0", "rx_packets") for b in lab.backends)
    out = lab.ns.run("c1", "taskset", "-c", CLIENT_CPU, flood_exe, host, port, seconds, capture=True,
                     timeout=seconds + 30)
    time.sleep(0.5)  # let the queues drain into the counters
    delivered = sum(lab.read_counter(b, "eth0", "rx_packets") for b in lab.backends) - before
    sent = int(re.search(r"sent (\d+)", out).group(1))
    return delivered / seconds, sent / seconds
