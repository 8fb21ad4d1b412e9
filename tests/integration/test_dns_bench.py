#!/usr/bin/python3
"""tools/dns_bench.py's arithmetic and parsers (no servers run): dnsperf's statistics as dnsperf
2.10 prints them, the knee of a rate search, answers per core from CPU time, the ratios, and the
zone, names file and vipgate services describing the same names and addresses."""
import importlib.util
import ipaddress
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("dns_bench", os.path.join(HERE, "..", "..", "tools", "dns_bench.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

DNSPERF_OUTPUT = """DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 198.18.6.1 -d /tmp/dnst/q.txt -l 3 -c 4 -q 200 -t 1
[Status] Sending queries (to 198.18.6.1:53)
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         107031
  Queries completed:    106031 (99.07%)
  Queries lost:         1000 (0.93%)

  Response codes:       NOERROR 106031 (100.00%)
  Average packet size:  request 50, response 66
  Run time (s):         3.004469
  Queries per second:   35623.932216

  Average Latency (s):  0.004532 (min 0.000019, max 0.014131)
  Latency StdDev (s):   0.002558
"""

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def raises(function, *arguments):
    try:
        function(*arguments)
    except ValueError:
        return True
    return False


# dnsperf's statistics
stats = bench.parse_dnsperf(DNSPERF_OUTPUT)
check(stats == {"sent": 107031, "completed": 106031, "lost": 1000, "qps": 35623.932216,
                "run_time_s": 3.004469, "latency_s": 0.004532}, f"parse_dnsperf: {stats}")
check(raises(bench.parse_dnsperf, "Queries sent: 5\n"), "parse_dnsperf accepted output without the statistics")
check(abs(bench.answered_ratio(stats) - 106031 / 107031) < 1e-12, "answered_ratio")

# rates and passes
check(bench.next_rates(20000, 1.5, 100000) == [20000, 30000, 45000, 67500, 100000],
      f"next_rates: {bench.next_rates(20000, 1.5, 100000)}")
check(bench.next_rates(5, 2, 5) == [5], "next_rates with start == ceiling")
check(raises(bench.next_rates, 0, 1.5, 10) and raises(bench.next_rates, 10, 1.0, 100), "next_rates bad input")
check(bench.passes_for(20000, 5, 10000) == 10 and bench.passes_for(100, 1, 10000) == 1, "passes_for")


def trial(offered, sent, completed, qps):
    return {"offered": offered, "sent": sent, "completed": completed, "qps": qps}


# the knee: the last rate with >= 99 % answered before the first below
trials = [trial(20000, 1000, 1000, 19990), trial(30000, 1000, 995, 29800), trial(45000, 1000, 980, 44000),
          trial(67500, 1000, 999, 67000)]
k = bench.knee(trials)
check(k["knee_offered_qps"] == 30000 and k["knee_answers_per_s"] == 29800, f"knee: {k}")
check(k["max_answers_per_s"] == 67000 and not k["limited_by_generator"], f"knee max/limit: {k}")
k = bench.knee(trials[:2])
check(k["knee_offered_qps"] == 30000 and k["limited_by_generator"], f"no trial below 99 %: {k}")
k = bench.knee([trial(20000, 1000, 900, 18000)])
check(k["knee_offered_qps"] is None and k["knee_answers_per_s"] is None, f"every trial below 99 %: {k}")
check(bench.knee([])["max_answers_per_s"] == 0.0, "knee of no trials")
# the client cannot send what is offered: the search stops (it measures dnsperf, not the server)
check(bench.generator_bound(trial(150000, 500000, 499000, 86000)), "86k of 150k offered is generator-bound")
check(not bench.generator_bound(trial(30000, 150000, 149900, 29985)), "29,985 of 30,000 offered is not")

# per core and ratios
check(bench.per_core(30000, 1.5, 3.0) == 60000, "per_core: half a core used")
check(bench.per_core(30000, 0, 3.0) is None and bench.per_core(30000, 1.0, 0) is None, "per_core without time")
check(bench.ratio(1000000, 200000) == 5.0 and bench.ratio(None, 2) is None and bench.ratio(3, 0) is None, "ratio")
summary = bench.summarize({"steps": {
    "knot": {"per_core_answers_per_s": 200000.0},
    "vipgate": {"per_core_answers_per_s": 900000.0},
    "vipgate-vipgen": {"search": {"ndr_found": True, "ndr_pps": 2400000.0}}}})
check(summary["ratio_dnsperf"] == 4.5 and summary["ratio_vipgen"] == 12.0, f"summarize: {summary}")
summary = bench.summarize({"steps": {"knot": {"per_core_answers_per_s": 200000.0},
                                     "vipgate": {"skipped": "no [dns]"},
                                     "vipgate-vipgen": {"search": {"ndr_found": False, "ndr_pps": 0}}}})
check(summary["ratio_dnsperf"] is None and summary["ratio_vipgen"] is None, f"summarize without vipgate: {summary}")

# the same names and addresses everywhere
count = 10000
zone = bench.zone_file(count).splitlines()
names = bench.names_file(count).splitlines()
queries = bench.dnsperf_queries(count).splitlines()
services = bench.vipgate_services(count)
check(len(zone) == 5 + count and len(queries) == count and len(services) == count and len(names) == count + 2,
      "zone, names, queries and services have one entry per service")
cidr = ipaddress.ip_network(bench.SERVICE_CIDR)
addresses = set()
for i in [0, 1, 4321, count - 1]:
    owner, _, address = zone[5 + i].split()
    check(f"{owner}.{bench.ZONE}" == bench.service_name(i), f"zone line {i}: {zone[5 + i]}")
    check(names[i] == f"{bench.service_name(i)} A {address}", f"names line {i}: {names[i]}")
    check(queries[i] == f"{bench.service_name(i)} A", f"query line {i}")
    check(services[i]["cluster_ip"] == address and services[i]["name"] == f"svc-{i}", f"service {i}")
    check(ipaddress.ip_address(address) in cidr and ipaddress.ip_address(address) != cidr.network_address,
          f"{address} outside {cidr} or its network address")
    addresses.add(address)
check(len(addresses) == 4, "distinct addresses")
check(raises(bench.service_address, 1 << 15), "a service past the /17")
check(names[-2].endswith(" A NXDOMAIN") and names[-1].endswith(" AAAA NODATA"), "names file negative entries")

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("dns_bench arithmetic and parsers: PASS")
