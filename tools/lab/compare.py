"""`tools/lab.sh compare`: the same clients and backends through each gateway, one table.

Gateways, one after the other on the same lab: vipgate (full-NAT, AF_XDP or AF_PACKET), the kernel
with kube-proxy's nftables rules, the kernel with kube-proxy's iptables rules; IPVS when the kernel
has it (this one has no ip_vs module: the table says so). Loads, `seconds` each, from c1 on CPU 0:
wrk keep-alive (32 connections), wrk with "Connection: close" (a new connection per request), and a
one-way UDP flood (64 flows, 64-byte payloads) counted at the backends' interfaces.
"""
import subprocess

from . import kernel_gateway, measure, servers, services, topology, vipgate_gateway

LOADS = ["HTTP keep-alive, req/s", "HTTP new connection per request, conn/s", "UDP one-way, datagrams/s delivered"]


def ipvs_status():
    result = subprocess.run(["modprobe", "ip_vs"], capture_output=True, text=True)
    if result.returncode != 0:
        return f"IPVS could not run here: `modprobe ip_vs` fails ({result.stderr.strip()})"
    return "IPVS: the ip_vs module loads, but the lab does not drive IPVS yet"


def measure_gateway(lab, gateway_name, flood_exe, seconds, pid=None):
    url = f"http://{services.WEB_VIP}/"
    runs = [lambda: measure.wrk(lab, url, seconds, 32),
            lambda: measure.wrk(lab, url, seconds, 32, close=True),
            lambda: measure.udp_flood(lab, flood_exe, services.SINK_VIP, servers.UDP_SINK_PORT, seconds)]
    rows = []
    for load, run in zip(LOADS, runs):
        cpu = measure.Cpu().start()
        process_before = measure.process_cpu_seconds(pid) if pid else None
        rate, note = run()
        usage = cpu.stop()
        if load.startswith("UDP"):
            rate, sent = rate, note
            note = f"sent {sent:,.0f}/s, {100 * (1 - rate / sent) if sent else 0:.1f} % lost"
        row = {"gateway": gateway_name, "load": load, "rate": rate, "note": note,
               "cpu0": usage[0]["busy"], "cpu1": usage[1]["busy"] if 1 in usage else 0.0,
               "softirq": sum(u["softirq"] for u in usage.values()),
               "process": (measure.process_cpu_seconds(pid) - process_before) / seconds if pid else None,
               "loadavg": open("/proc/loadavg").read().split()[0]}
        print(f"  {gateway_name:28} {load:42} {rate:>12,.0f}  ({note})", flush=True)
        rows.append(row)
    return rows


def table(rows, notes):
    lines = ["| gateway | load | rate | errors / loss | CPU 0 busy | CPU 1 busy | softirq, all CPUs (cores) | "
             "gateway process (cores) | load average (1 min) |", "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        process = f"{r['process']:.2f}" if r["process"] is not None else "- (in-kernel)"
        lines.append(f"| {r['gateway']} | {r['load']} | {r['rate']:,.0f} | {r['note']} | {100 * r['cpu0']:.0f} % | "
                     f"{100 * r['cpu1']:.0f} % | {r['softirq']:.2f} | {process} | {r['loadavg']} |")
    return "\n".join(lines + [""] + [f"- {n}" for n in notes])


def run(vipgate_exe, flood_exe, seconds, workdir):
    rows, notes = [], []
    with topology.Lab(backends=4) as lab:
        servers.start(lab, workdir, cpu=measure.CLIENT_CPU)
        served = services.standard(lab)

        gateway = vipgate_gateway.Vipgate(lab, vipgate_exe, workdir).start(served, nat_mode="fullnat", nice=-20)
        name = f"vipgate full-NAT ({gateway.pmd})"
        notes.append(f"vipgate ran on {gateway.pmd}" +
                     (f"; AF_XDP failed: {gateway.fallback_reason}" if gateway.fallback_reason else "") +
                     "; worker busy-polls CPU 1, control thread on CPU 0, both at nice -20 (the machine is "
                     "shared: this stands in for a dedicated core)")
        print(f"{name}: {seconds} s per load", flush=True)
        try:
            rows += measure_gateway(lab, name, flood_exe, seconds, pid=gateway.process.pid)
        finally:
            gateway.stop()
        lab.neighbors_flush()

        for mode in ["nftables", "iptables"]:
            kernel = kernel_gateway.KernelGateway(lab, mode).start(served)
            name = f"kernel, kube-proxy {mode} rules"
            print(f"{name}: {seconds} s per load", flush=True)
            try:
                rows += measure_gateway(lab, name, flood_exe, seconds)
            finally:
                kernel.stop()
    notes.append(ipvs_status())
    notes.append("iptables: " + subprocess.run(["iptables", "-V"], capture_output=True, text=True).stdout.strip())
    return table(rows, notes)
