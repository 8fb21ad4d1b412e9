"""Command line of the suite (tools/bench_suite.py, through tools/bench.sh)."""
import argparse
import json
import os
import signal
import time

from .formatting import log
from .machine import ROOT, cpu_snapshot, machine_info, other_cpu_use
from .processes import Interrupted
from .report import render_document, write_results
from .scenarios import Suite
from .topology import GEN_CPU, Settings, write_atomic

# Other processes using more than this share of the CPUs before the start: warn.
BUSY_BEFORE_START_SHARE = 0.1


def parse_args(argv):
    parser = argparse.ArgumentParser(description="vipgate line-rate benchmark suite (vipgen vs testpmd over memif)")
    parser.add_argument("--quick", action="store_true", help="small flow counts, short trials: a smoke run")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs"),
                        help="directory for benchmarks.md and benchmarks.json (default: docs/)")
    parser.add_argument("--skip-10m", action="store_true", help="skip the 10M-flow scenario and the memory figures")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--vipgen", help="vipgen executable (default: BUILD/pktgen/vipgen)")
    parser.add_argument("--vipgate", help="vipgate executable (default: BUILD/control/vipgate)")
    parser.add_argument("--testpmd", default="dpdk-testpmd")
    parser.add_argument("--duration", type=float, help="seconds per max-load trial (default 10, --quick 2)")
    parser.add_argument("--warmup-rate", type=int, default=1_000_000,
                        help="flow-opening rate of the warm-up in vipgate runs (default 1000000)")
    parser.add_argument("--soak-minutes", type=float,
                        help="run the soak (lifecycle traffic, API changes, memory and tables sampled) for this "
                             "long; without it the soak runs only with --only soak (30 minutes)")
    parser.add_argument("--only", help="comma-separated steps: generator,max,ndr,new,storm,api-storm,memory,soak "
                                       "(for development: the "
                                       "later steps use the earlier ones' results when present)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="repetitions of each max-load run, the median is reported (default 3; 1 with "
                             "--quick and for the 10M-flow run)")
    parser.add_argument("--keep-scratch", action="store_true", help="keep the scratch directory (logs)")
    parser.add_argument("--render", metavar="JSON",
                        help="only rewrite benchmarks.md in --out from an earlier benchmarks.json (no runs)")
    return parser.parse_args(argv)


def render_only(args):
    """Rebuilds the markdown from a results file (after a change to the report's text)."""
    with open(args.render) as f:
        document = json.load(f)
    args.quick = document.get("quick", False)
    text = render_document(document, Settings(args))
    os.makedirs(os.path.abspath(args.out), exist_ok=True)
    path = os.path.join(os.path.abspath(args.out), "benchmarks.md")
    write_atomic(path, text)
    log(f"wrote {path} from {args.render}")
    return 0


def main(argv):
    args = parse_args(argv)
    if args.render:
        return render_only(args)
    suite = Suite(args)
    try:
        os.sched_setaffinity(0, {GEN_CPU})
    except OSError:
        pass

    def interrupted(number, frame):
        raise Interrupted(f"signal {number}")
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    status = 1
    was_interrupted = False
    info = {}
    try:
        problems = suite.preflight()
        if problems:
            for problem in problems:
                log(f"cannot run: {problem}")
            return 2
        info = machine_info(suite)
        log(f"scratch {suite.scratch}; results to {suite.out_dir}; {'quick' if args.quick else 'full'} run")
        idle = other_cpu_use(cpu_snapshot(), (time.sleep(2), cpu_snapshot())[1], 2.0)
        info["busy_before_start"] = idle
        if idle["other_share"] and idle["other_share"] > BUSY_BEFORE_START_SHARE:
            log(f"warning: other processes use {100 * idle['other_share']:.0f} % of the CPUs: the figures will "
                "be lower and noisier than on an idle machine")
        suite.run()
    except Interrupted as reason:
        was_interrupted = True
        suite.failures.append(f"interrupted ({reason})")
        log(f"interrupted ({reason}): cleaning up")
    finally:
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, signal.SIG_IGN)   # let the clean-up finish
        suite.cleanup(keep_scratch=args.keep_scratch or bool(suite.failures))
    if info:
        results = write_results(suite, info, was_interrupted)
        for goal in results.goals:
            log(f"goal: {goal.goal}: {goal.measured} (target {goal.target}): {goal.verdict}")
        status = 1 if suite.failures else 0
        log(f"{len(suite.runs)} runs, {len(suite.failures)} failed; {(time.time() - suite.started) / 60:.1f} min")
    return status
