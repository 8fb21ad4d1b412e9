#!/usr/bin/python3
"""Cluster DNS benchmark (issue 12, Speed): vipgate's DNS against Knot DNS on this machine.

Both servers answer the same zone: N services (default 10,000) `svc-<i>.default.svc.cluster.local`
with one A record each (a ClusterIP), TTL 5. Steps (`--steps`, default all):

  knot            knotd (authoritative, zone in memory, one UDP worker pinned to CPU 1) in a
                  namespace behind a veth; dnsperf (CPU 0) in another. The loss knee: dnsperf's rate
                  (-Q) is raised by --step-factor until answers < 99 % of queries. Answers per core =
                  answers/s / the CPU share knotd used (from /proc), so a dnsperf that cannot
                  saturate knotd does not understate it.
  knot-vipgen     vipgen's DNS query mode (AF_PACKET on the veth) against the same knotd: every
                  answer checked against the names file. This checks the names file and vipgen
                  against an independent server; answers/s here is knotd's, not vipgen's limit.
  vipgate         vipgate (one worker on CPU 1, AF_PACKET port on the veth) with a [dns] table and
                  the N services; the same dnsperf knee. The worker busy-polls one core, so answers
                  per core = answers/s.
  vipgate-vipgen  vipgate on net_memif against vipgen's DNS mode: the zero-loss (NDR) and 0.5 %-loss
                  (PDR) answer rates of one worker, every answer checked.

Printed at the end, from this run only: answers/s per core of each, the knees, and the ratios
vipgate/knot per core (goal: >= 5x). CoreDNS's published figure, about 17,000 queries/s per vCPU,
is a paper anchor, not measured here. Results: --out DIR/dns-benchmarks.{json,md}.

Needs root, knot, dnsperf (tools/setup.sh), and build/control/vipgate, build/pktgen/vipgen.
The vipgate steps need a vipgate with the [dns] table; an older one is reported as skipped.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

ZONE = "cluster.local"
TTL = 5
SERVER_IP, CLIENT_IP, PREFIX_LENGTH = "198.18.6.1", "198.18.6.2", 24
DNS_VIP = "198.18.100.250"          # vipgate's [dns] address
SERVICE_CIDR = "198.18.128.0/17"
GEN_CLIENTS = "198.19.0.0/16"       # vipgen's clients, routed via ROUTER_IP
ROUTER_IP = "198.18.6.254"
SOCKET_BUFFER_KB = 8192             # UDP socket buffers of dnsperf and knotd
KNEE_ANSWERED = 0.99                # the knee: answers below 99 % of queries
GENERATOR_BOUND = 0.8               # dnsperf sent under 80 % of the offered rate: it is the limit
COREDNS_QPS_PER_VCPU = 17000        # CoreDNS's published figure (paper anchor)
GOAL_RATIO = 5.0


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- the zone, the names, the queries (pure) ------------------------------------------------

def service_address(index):
    """ClusterIP of service `index`: 198.18.128.1 + index (inside SERVICE_CIDR, never its network)."""
    value = (198 << 24 | 18 << 16 | 128 << 8 | 1) + index
    if value >= (198 << 24 | 19 << 16):
        raise ValueError(f"service {index} falls outside {SERVICE_CIDR}")
    return ".".join(str(value >> shift & 0xff) for shift in (24, 16, 8, 0))


def service_name(index):
    return f"svc-{index}.default.svc.{ZONE}"


def zone_file(count, ns_address=SERVER_IP):
    """Knot's zone file for `count` services (the SOA minimum is the TTL, as CoreDNS's)."""
    lines = [f"$ORIGIN {ZONE}.", f"$TTL {TTL}",
             f"@ SOA ns.dns.{ZONE}. hostmaster.{ZONE}. 1 7200 1800 86400 {TTL}",
             f"@ NS ns.dns.{ZONE}.", f"ns.dns A {ns_address}"]
    lines += [f"svc-{i}.default.svc A {service_address(i)}" for i in range(count)]
    return "\n".join(lines) + "\n"


def names_file(count):
    """vipgen's --dns-names: every service with its address, plus a miss and a NODATA."""
    lines = [f"{service_name(i)} A {service_address(i)}" for i in range(count)]
    lines += [f"no-such-service.default.svc.{ZONE} A NXDOMAIN", f"{service_name(0)} AAAA NODATA"]
    return "\n".join(lines) + "\n"


def dnsperf_queries(count):
    return "".join(f"{service_name(i)} A\n" for i in range(count))


def vipgate_services(count):
    """The same services in vipgate's config: ClusterIPs fixed, a port, no endpoints (DNS only
    needs the name and the address)."""
    return [{"name": f"svc-{i}", "cluster_ip": service_address(i),
             "ports": [{"name": "http", "protocol": "TCP", "port": 80}]} for i in range(count)]


def parse_dnsperf(text):
    """dnsperf's statistics: sent, completed, lost, qps, run time, mean latency (s)."""
    fields = {"sent": r"Queries sent:\s+(\d+)", "completed": r"Queries completed:\s+(\d+)",
              "lost": r"Queries lost:\s+(\d+)", "qps": r"Queries per second:\s+([\d.]+)",
              "run_time_s": r"Run time \(s\):\s+([\d.]+)", "latency_s": r"Average Latency \(s\):\s+([\d.]+)"}
    result = {}
    for key, pattern in fields.items():
        match = re.search(pattern, text)
        if not match:
            raise ValueError(f"dnsperf output has no '{pattern.split(':')[0]}' line")
        result[key] = float(match.group(1)) if "." in match.group(1) else int(match.group(1))
    return result


def passes_for(rate, seconds, names):
    """dnsperf -n: whole passes over the names that take about `seconds` at `rate` (at least one)."""
    return max(1, round(rate * seconds / names))


def answered_ratio(trial):
    return trial["completed"] / trial["sent"] if trial["sent"] else 0.0


def generator_bound(trial):
    """True when dnsperf could not send what was offered: raising the rate measures the client,
    not the server, so the search stops there."""
    return trial["qps"] < GENERATOR_BOUND * trial["offered"]


def next_rates(start, factor, ceiling):
    """The offered rates of a knee search: start, start*factor, ... up to ceiling (included)."""
    if start <= 0 or factor <= 1 or ceiling < start:
        raise ValueError("rates need 0 < start <= ceiling and factor > 1")
    rates, rate = [], float(start)
    while rate < ceiling:
        rates.append(int(rate))
        rate *= factor
    rates.append(int(ceiling))
    return rates


def knee(trials):
    """From trials in increasing offered rate: the last rate with answers >= 99 % of queries
    before the first below it, and the best answers/s seen. None when every trial was below."""
    best_ok = None
    for trial in trials:
        if answered_ratio(trial) < KNEE_ANSWERED:
            break
        best_ok = trial
    return {"knee_offered_qps": best_ok["offered"] if best_ok else None,
            "knee_answers_per_s": best_ok["qps"] if best_ok else None,
            "max_answers_per_s": max((t["qps"] for t in trials), default=0.0),
            "limited_by_generator": bool(trials) and all(answered_ratio(t) >= KNEE_ANSWERED for t in trials)}


def per_core(answers_per_s, cpu_seconds, wall_seconds):
    """Answers per second of one fully used core: answers/s divided by the CPU share used."""
    if not cpu_seconds or not wall_seconds:
        return None
    return answers_per_s / (cpu_seconds / wall_seconds)


def ratio(a, b):
    return a / b if a and b else None


def cpu_seconds(pids):
    """utime + stime of the processes (all their threads), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / ticks


# ---- the runs ---------------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        from lab import netns
        self.args = args
        self.ns = netns.Namespaces("d")
        self.work = tempfile.mkdtemp(prefix="vipgate-dns-bench-")
        self.results = {"services": args.services, "steps": {}}
        self.vipgate = os.path.join(args.build_dir, "control", "vipgate")
        self.vipgen = os.path.join(args.build_dir, "pktgen", "vipgen")
        self.path("zone", zone_file(args.services))
        self.path("names", names_file(args.services))
        self.path("queries", dnsperf_queries(args.services))

    def path(self, name, text=None):
        path = os.path.join(self.work, name)
        if text is not None:
            with open(path, "w") as f:
                f.write(text)
        return path

    def close(self):
        self.ns.close()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    def link(self, client_role, server_role):
        """client_role (CLIENT_IP) <-> server_role over a veth, offloads off (AF_PACKET sees wire
        bytes). Each server gets its own client namespace: the two links share addresses."""
        for role in [client_role, server_role]:
            self.ns.add(role)
        self.ns.veth(client_role, "eth0", server_role, "eth0")
        for role in [client_role, server_role]:
            self.ns.run(role, "ethtool", "-K", "eth0", "tx", "off", "rx", "off", "gro", "off", check=False)
            self.ns.run(role, "ip", "link", "set", "eth0", "up")
        self.ns.run(client_role, "ip", "addr", "add", f"{CLIENT_IP}/{PREFIX_LENGTH}", "dev", "eth0")

    def dnsperf(self, client_role, server, rate, seconds):
        """About `seconds` at `rate`, as whole passes over the names (-n), not a time limit (-l): with a
        time limit dnsperf counts the queries still in flight at the end as lost."""
        passes = passes_for(rate, seconds, self.args.services)
        command = ["taskset", "-c", "0", "dnsperf", "-s", server, "-d", self.path("queries"), "-n", passes,
                   "-c", self.args.dnsperf_clients, "-q", self.args.dnsperf_outstanding, "-t", 1, "-Q", rate,
                   "-b", SOCKET_BUFFER_KB]
        return parse_dnsperf(self.ns.run(client_role, *command, capture=True, timeout=4 * seconds + 60))

    def knee_search(self, client_role, server, server_pids):
        # A short run first: ARP, the server's caches and sockets warm before anything is measured.
        self.dnsperf(client_role, server, self.args.start_qps, 1)
        trials = []
        for rate in next_rates(self.args.start_qps, self.args.step_factor, self.args.max_qps):
            before, started = cpu_seconds(server_pids()), time.monotonic()
            trial = self.dnsperf(client_role, server, rate, self.args.trial_seconds)
            trial["offered"] = rate
            trial["server_cpu_s"] = cpu_seconds(server_pids()) - before
            trial["wall_s"] = time.monotonic() - started
            trials.append(trial)
            log(f"  offered {rate:>9} q/s: answered {trial['qps']:>10.0f}/s ({100 * answered_ratio(trial):.2f} %), "
                f"server CPU {trial['server_cpu_s'] / trial['wall_s']:.2f}")
            if answered_ratio(trial) < KNEE_ANSWERED:
                break
            if generator_bound(trial):
                log(f"  dnsperf reached only {trial['qps']:.0f} of {rate} q/s: the client is the limit; search ends")
                break
        result = knee(trials)
        best = max(trials, key=lambda t: t["qps"])
        result["per_core_answers_per_s"] = per_core(best["qps"], best["server_cpu_s"], best["wall_s"])
        result["trials"] = trials
        return result

    # knotd, one UDP worker on CPU 1
    def start_knot(self):
        self.link("kcli", "srv")
        self.ns.run("srv", "ip", "addr", "add", f"{SERVER_IP}/{PREFIX_LENGTH}", "dev", "eth0")
        self.ns.run("srv", "ip", "route", "add", GEN_CLIENTS, "via", ROUTER_IP)
        # knotd has no socket-buffer setting: a larger default (per namespace) rides out the moments
        # a shared CPU is taken from it, as dnsperf's -b does on the client side.
        self.ns.run("srv", "sysctl", "-qw", f"net.core.rmem_default={SOCKET_BUFFER_KB * 1024}", check=False)
        os.makedirs(self.path("knot-db"), exist_ok=True)
        self.path("knot.conf", f"""server:
    listen: {SERVER_IP}@53
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    rundir: {self.work}
database:
    storage: {self.path("knot-db")}
log:
  - target: stderr
    any: warning
zone:
  - domain: {ZONE}
    file: {self.path("zone")}
    journal-content: none
    zonefile-sync: -1
""")
        self.knot = self.ns.spawn("srv", ["knotd", "-c", self.path("knot.conf")], log_path=self.path("knot.log"), cpu=1)
        deadline = time.monotonic() + 20
        probe = service_name(self.args.services - 1)
        while self.ns.run("kcli", "dig", "+short", "+time=1", "+tries=1", f"@{SERVER_IP}", probe, check=False,
                          capture=True).strip() != service_address(self.args.services - 1):
            if self.knot.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"knotd did not answer {probe}: see {self.path('knot.log')}")
            time.sleep(0.2)

    def step_knot(self):
        self.start_knot()
        log(f"knot: dnsperf knee ({self.args.services} names)")
        return self.knee_search("kcli", SERVER_IP, lambda: [self.knot.pid])

    def step_knot_vipgen(self):
        if not hasattr(self, "knot"):
            self.start_knot()
        # vipgen takes the client end of the veth (AF_PACKET): it gives it no kernel address.
        self.ns.run("kcli", "ip", "addr", "flush", "dev", "eth0")
        config = self.path("gen.toml", "[dataplane]\nworker_lcores = [1]\n[[ports]]\nname = \"p0\"\n"
                                       f"device = \"net_null0\"\naddresses = [\"{SERVER_IP}/{PREFIX_LENGTH}\"]\n"
                                       f"[[routes]]\nprefix = \"{GEN_CLIENTS}\"\nvia = \"{ROUTER_IP}\"\n")
        device = "net_af_packet0,iface=eth0,qpairs=1"
        report = self.run_vipgen("kcli", device, config, SERVER_IP, ["--vdev", device], search=False)
        self.ns.run("kcli", "ip", "addr", "add", f"{CLIENT_IP}/{PREFIX_LENGTH}", "dev", "eth0")
        return report

    def run_vipgen(self, role, device, config, server, extra_eal, search):
        eal = ["--no-huge", "-m", "1024", "--no-pci", "--no-telemetry", "--lcores", "0@0,1@0", "--file-prefix",
               f"{self.ns.base}-gen", *extra_eal]
        command = [self.vipgen, "--eal", " ".join(eal), "--port", device, "--config", config,
                   "--dns-names", self.path("names"), "--dns-server", server, "--flows", self.args.vipgen_flows,
                   "--duration", self.args.trial_seconds, "--json"]
        if search:
            command.append("--search")
        else:
            command += ["--rate", self.args.vipgen_rate]
        log("  " + " ".join(map(str, command)))
        out = self.ns.run(role, *command, capture=True, check=False, timeout=600)
        if not out.strip():
            raise RuntimeError("vipgen printed no JSON (run the command above to see why)")
        report = json.loads(out)
        keep = ["dns", "tx_pps", "rx_pps", "lost", "loss_ratio", "latency_ns", "search"]
        result = {key: report[key] for key in keep if key in report}
        result["wrong_answers"] = report["dns"]["wrong_answers"]
        log(f"  vipgen: {report['dns']['answers_pps']:.0f} answers/s checked, {result['wrong_answers']} wrong, "
            f"{report['lost']} lost")
        return result

    # vipgate, one worker on CPU 1
    def vipgate_config(self, device, port_address):
        from vipgate_harness import toml_dumps
        document = {
            "eal": {"args": ["--no-huge", "-m", "1024", "--no-pci", "--no-shconf", "--no-telemetry",
                             "--file-prefix", f"{self.ns.base}-gw", "--lcores=0@0,1@1"]},
            "dataplane": {"worker_lcores": [1], "stats_interval_ms": 1000},
            "cluster": {"service_cidr": SERVICE_CIDR},
            "dns": {"addresses": [DNS_VIP], "zone": ZONE, "ttl": TTL, "rate_limit": 0},
            "ports": [{"name": "p0", "device": device, "addresses": [f"{port_address}/{PREFIX_LENGTH}"]}],
            "routes": [{"prefix": GEN_CLIENTS, "via": ROUTER_IP}],
            "services": vipgate_services(self.args.services),
        }
        return self.path("vipgate.toml", toml_dumps(document))

    def vipgate_supports_dns(self, config):
        check = subprocess.run([self.vipgate, "--check", "--config", config], capture_output=True, text=True)
        if check.returncode != 0:
            return (check.stdout + check.stderr).strip().splitlines()[:3]
        return None

    def start_vipgate(self, role, config):
        log_path = self.path(f"vipgate-{role}.log")
        process = self.ns.spawn(role, [self.vipgate, "--config", config, "--api-socket", "",
                                       "--metrics-address", ""], log_path=log_path)
        deadline = time.monotonic() + 60
        while not re.search(r"\d+ worker\(s\) running", open(log_path, errors="replace").read()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"vipgate did not start: see {log_path}")
            time.sleep(0.1)
        return process

    def step_vipgate(self):
        self.link("gcli", "gw")
        config = self.vipgate_config("net_af_packet0,iface=eth0,qpairs=1", SERVER_IP)
        problem = self.vipgate_supports_dns(config)
        if problem:
            return {"skipped": "vipgate --check refuses the [dns] config: " + " / ".join(problem)}
        self.ns.run("gcli", "ip", "route", "add", "default", "via", SERVER_IP)
        process = self.start_vipgate("gw", config)
        log(f"vipgate (AF_PACKET): dnsperf knee ({self.args.services} names)")
        result = self.knee_search("gcli", DNS_VIP, lambda: [process.pid])
        # The worker busy-polls its core whatever the load: one core per worker.
        result["per_core_answers_per_s"] = result["max_answers_per_s"]
        process.send_signal(signal.SIGTERM)
        process.wait(20)
        return result

    def step_vipgate_vipgen(self):
        self.ns.add("mem")
        socket_path = self.path("memif.sock")
        config = self.vipgate_config(f"net_memif0,role=server,socket={socket_path},rsize=12", SERVER_IP)
        problem = self.vipgate_supports_dns(config)
        if problem:
            return {"skipped": "vipgate --check refuses the [dns] config: " + " / ".join(problem)}
        process = self.start_vipgate("mem", config)
        log("vipgate (net_memif) against vipgen's DNS mode: NDR/PDR search")
        result = self.run_vipgen("mem", f"net_memif0,role=client,socket={socket_path},rsize=12", config, DNS_VIP,
                                 [], search=True)
        process.send_signal(signal.SIGTERM)
        process.wait(20)
        return result


def summarize(results):
    steps = results["steps"]
    knot = steps.get("knot", {}).get("per_core_answers_per_s")
    vipgate = steps.get("vipgate", {}).get("per_core_answers_per_s")
    search = steps.get("vipgate-vipgen", {}).get("search", {})
    vipgen_ndr = search.get("ndr_pps") if search.get("ndr_found") else None
    return {
        "knot_per_core": knot,
        "vipgate_dnsperf_per_core": vipgate,
        "vipgate_vipgen_ndr_per_worker": vipgen_ndr,
        "ratio_dnsperf": ratio(vipgate, knot),
        "ratio_vipgen": ratio(vipgen_ndr, knot),
        "coredns_paper_per_vcpu": COREDNS_QPS_PER_VCPU,
        "goal_ratio": GOAL_RATIO,
    }


def fmt(value, unit=""):
    return "not measured" if value is None else f"{value:,.0f}{unit}"


def render(results):
    s = results["summary"]
    steps = results["steps"]
    lines = ["# Cluster DNS benchmark", "",
             f"{results['services']:,} service names, measured {results['date']} on {results['machine']}; "
             "`tools/bench.sh dns` (tools/dns_bench.py). Every figure below comes from this one run.", "",
             "| server | how | answers/s per core | loss knee (offered q/s, answers >= 99 %) | checked |",
             "|---|---|---|---|---|"]
    for key, label, how in [("knot", "Knot DNS (knotd, 1 UDP worker)", "dnsperf"),
                            ("vipgate", "vipgate (1 worker, AF_PACKET)", "dnsperf")]:
        step = steps.get(key, {})
        if "skipped" in step or "error" in step or not step:
            lines.append(f"| {label} | {how} | {step.get('skipped') or step.get('error') or 'not run'} | | |")
            continue
        knee_text = fmt(step["knee_offered_qps"]) + (" (dnsperf's limit, no knee)" if step["limited_by_generator"] else "")
        lines.append(f"| {label} | {how} | {fmt(step['per_core_answers_per_s'])} | {knee_text} | rcode only |")
    for key, label in [("knot-vipgen", "Knot DNS via vipgen (AF_PACKET)"),
                       ("vipgate-vipgen", "vipgate via vipgen (net_memif, NDR)")]:
        step = steps.get(key, {})
        if "dns" not in step:
            lines.append(f"| {label} | vipgen | {step.get('skipped') or step.get('error') or 'not run'} | | |")
            continue
        rate = step["search"]["ndr_pps"] if step.get("search", {}).get("ndr_found") else step["dns"]["answers_pps"]
        lines.append(f"| {label} | vipgen | {fmt(rate)} | | every answer; {step['wrong_answers']} wrong |")
    lines += ["", f"- vipgate / Knot per core (dnsperf): {fmt_ratio(s['ratio_dnsperf'])}; "
                  f"vipgate NDR per worker (vipgen) / Knot per core: {fmt_ratio(s['ratio_vipgen'])}; goal >= {GOAL_RATIO:g}x.",
              f"- Paper anchor, not measured: CoreDNS publishes about {COREDNS_QPS_PER_VCPU:,} queries/s per vCPU.",
              "- Knot per core = answers/s divided by the CPU share knotd used (from /proc), so a dnsperf that "
              "cannot saturate knotd does not understate it. dnsperf runs on CPU 0, the servers on CPU 1; "
              "the machine is shared, so treat single runs as indicative."]
    return "\n".join(lines) + "\n"


def fmt_ratio(value):
    return "not measured" if value is None else f"{value:.1f}x"


STEPS = {"knot": "step_knot", "knot-vipgen": "step_knot_vipgen", "vipgate": "step_vipgate",
         "vipgate-vipgen": "step_vipgate_vipgen"}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated: " + ", ".join(STEPS))
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--trial-seconds", type=int, default=5)
    parser.add_argument("--start-qps", type=int, default=20000)
    parser.add_argument("--step-factor", type=float, default=1.5)
    parser.add_argument("--max-qps", type=int, default=2000000)
    parser.add_argument("--dnsperf-clients", type=int, default=8)
    parser.add_argument("--dnsperf-outstanding", type=int, default=1000)
    parser.add_argument("--vipgen-flows", type=int, default=4096)
    parser.add_argument("--vipgen-rate", type=int, default=50000, help="knot-vipgen: queries/s")
    parser.add_argument("--out", default=None, help="write DIR/dns-benchmarks.{json,md}")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    unknown = set(args.steps.split(",")) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}; known: {', '.join(STEPS)}")
    return args


def main(argv):
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("dns_bench: needs root (namespaces, DPDK)", file=sys.stderr)
        return 2
    missing = [tool for tool in ["knotd", "dnsperf", "dig", "taskset", "ethtool"] if shutil.which(tool) is None]
    if missing:
        print(f"dns_bench: missing {', '.join(missing)} (tools/setup.sh installs them)", file=sys.stderr)
        return 2
    bench = Bench(args)
    failed = False
    try:
        for step in args.steps.split(","):
            try:
                bench.results["steps"][step] = getattr(bench, STEPS[step])()
            except Exception as error:  # one step failing must not lose the others' figures
                failed = True
                bench.results["steps"][step] = {"error": f"{type(error).__name__}: {error}"}
                log(f"{step}: {error}")
    finally:
        bench.close()
    results = bench.results
    results["date"] = time.strftime("%Y-%m-%d")
    results["machine"] = f"{os.cpu_count()} CPUs, {os.uname().release}"
    results["summary"] = summarize(results)
    text = render(results)
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "dns-benchmarks.json"), "w") as f:
            json.dump(results, f, indent=1)
        with open(os.path.join(args.out, "dns-benchmarks.md"), "w") as f:
            f.write(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
