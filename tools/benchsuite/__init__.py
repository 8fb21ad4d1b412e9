"""vipgate line-rate benchmark suite (run through tools/bench.sh, entry point tools/bench_suite.py).

Drives three programs over one net_memif link (two processes, shared memory):

  generator            vipgen (build/pktgen/vipgen), CPU 0: sends client traffic, plays the
                       backends, checks every packet that comes back
  device under test    dpdk-testpmd (io / macswap: the baseline) or vipgate, CPU 1

Every number comes from vipgen, so the baseline and vipgate are measured by the same generator.
Each vipgen invocation gets a freshly started device under test (memif server; vipgen connects
as the client), so every run starts from empty tables and ends with the device's own final
counters, which are kept next to vipgen's JSON.

Writes OUT/benchmarks.md (tables, ratios to the baselines, goal verdicts) and
OUT/benchmarks.json (everything, including the raw vipgen results). A run that fails is
recorded as such and the suite goes on; the exit status is 1 if any run failed.

The modules, in the order data flows through them:

  topology      addresses, scales, settings, the vipgate configuration file
  processes     children in their own process groups: Process, Testpmd, Vipgate
  logparse      vipgate's log lines: intervals, reloads, final counters
  results       typed records: a vipgen result, its search, a run, a DUT's summary
  search        the suite's side of the NDR / PDR search (vipgen bisects, see pktgen/rate_search.h)
  checks        a run's status (ok / errors / failed), its notes and headline
  storm         SIGHUPs paired with the reloads they caused
  scenarios     Suite: every run of the benchmark
  machine       the machine and how busy it was
  derive        runs -> figures, ratios and goal verdicts
  report        markdown and JSON
  cli           command line

  memif_pair    for the single-purpose benches beside the suite (tools/flood_bench.py,
                tools/idle_bench.py): one vipgate and vipgen runs against it

Standard library only; run with /usr/bin/python3 as root.
"""
