"""The machine the suite runs on, and how much of it other processes took meanwhile."""
import datetime
import json
import os
import platform
import re
import shlex
import subprocess

from .topology import DUT_CPU, GEN_CPU

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def command_output(argv, cwd=None):
    try:
        return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_snapshot():
    """(busy seconds of all CPUs, steal seconds, CPU seconds used by this process and its reaped
    children) now."""
    import resource
    hz = os.sysconf("SC_CLK_TCK")
    busy = steal = 0.0
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal guest guest_nice
        busy = (sum(fields[:8]) - fields[3] - fields[4] - fields[7]) / hz
        steal = fields[7] / hz if len(fields) > 7 else 0.0
    except (OSError, ValueError, IndexError):
        pass
    ours = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        ours += usage.ru_utime + usage.ru_stime
    return busy, steal, ours


def other_cpu_use(before, after, seconds):
    """CPU seconds that other processes (not this suite) and the hypervisor (steal) took
    between two snapshots: a measure of how undisturbed the run was."""
    busy = after[0] - before[0]
    ours = after[2] - before[2]
    cpus = os.cpu_count() or 1
    other = max(0.0, busy - ours)
    steal = after[1] - before[1]
    return {"other_cpu_s": round(other, 1), "other_share": round(other / (seconds * cpus), 3) if seconds else None,
            "steal_s": round(steal, 1), "steal_share": round(steal / (seconds * cpus), 3) if seconds else None,
            "seconds": round(seconds, 1)}


def machine_info(suite):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mhz = command_output(["sh", "-c", "grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2"]).strip()
    hypervisor = command_output(["sh", "-c", "lscpu | sed -n 's/^Hypervisor vendor: *//p'"])
    mem_kb = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
    except (OSError, AttributeError):
        pass
    dpdk = command_output(["pkg-config", "--modversion", "libdpdk"]) or \
        command_output(["dpkg-query", "-W", "-f", "${Version}", "dpdk"])
    commit = command_output(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=ROOT)
    compiler = command_output(["c++", "--version"]).splitlines()[:1]
    buildtype = ""
    try:
        with open(os.path.join(suite.build_dir, "meson-info", "intro-buildoptions.json")) as f:
            buildtype = next((o["value"] for o in json.load(f) if o["name"] == "buildtype"), "")
    except (OSError, ValueError, StopIteration):
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": cpu, "cpu_mhz": mhz, "hypervisor": hypervisor or "none", "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1), "kernel": platform.release(),
        "os": command_output(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "dpdk": dpdk, "testpmd": command_output(["sh", "-c", f"command -v {shlex.quote(suite.testpmd)}"]),
        "compiler": compiler[0] if compiler else "", "buildtype": buildtype, "vipgate_commit": commit,
        "loadavg_start": os.getloadavg(),
        "cpu_start": cpu_snapshot(),
        "cores": {
            "generator": f"vipgen on CPU {GEN_CPU}: EAL main lcore 0 (reports only) and worker lcore 1, "
                         f"--lcores 0@{GEN_CPU},1@{GEN_CPU}",
            "dut_testpmd": f"dpdk-testpmd on CPU {DUT_CPU}: main lcore 0 (stats, sleeps) and forwarding "
                           f"lcore 1, --lcores 0@{DUT_CPU},1@{DUT_CPU}",
            "dut_vipgate": f"vipgate on CPU {DUT_CPU}: control thread (EAL main lcore 0) and one worker "
                           f"(lcore 1), --lcores 0@{DUT_CPU},1@{DUT_CPU}",
            "driver": f"this script, pinned to CPU {GEN_CPU} (asleep during trials); the programs' EAL "
                      f"interrupt threads (idle) run on the other CPU",
        },
        "memory_mode": "--no-huge (4 KiB pages) for every process",
        "port": "net_memif (shared memory), DUT = role=server, vipgen = role=client, 1 RX + 1 TX queue, "
                "1024 descriptors",
    }

