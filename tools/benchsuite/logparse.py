"""vipgate's log, read back: start-up, the per-interval summary lines, SIGHUP reloads and the
final counters.

What vipgate prints today (control/daemon.cpp, control/stats_reporter.cpp; spdlog's default
"[date time.ms] [level] text"). tests/integration/test_bench_parsers.py feeds the real binary's
log to these parsers, so a change to those lines fails a test instead of a benchmark."""
import dataclasses
import datetime
import re

LOG_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\] \[(\w+)\] (.*)$")
INTERVAL = re.compile(r"rx (\S+)pps, tx (\S+)pps, new (\S+)/s, active (\d+), drops (\S+)/s")
RUNNING = re.compile(r"\d+ worker\(s\) running")
# Daemon::reload(), in the order it logs them (the first from Daemon::publish(), during the
# reload): "SIGHUP: reloading PATH", then either
#   "generation N in use by all W workers U us after publication" (or "... not yet in use by every
#   worker after U us"), "generation N built in X ms: ...", "update applied: generation N in use by
#   every worker X ms after the reload began (parse and validate X ms, build X ms, publication U us)"
# or "update applied: generation N unchanged (...; validated in X ms)" (nothing published)
# or "reload rejected: ..." / "reload failed: ...".
RELOAD_START = re.compile(r"SIGHUP: reloading ")
RELOAD_PUBLISHED = re.compile(r"generation (\d+) in use by all (\d+) workers (\d+) us after publication")
RELOAD_STALLED = re.compile(r"generation (\d+) not yet in use by every worker after (\d+) us")
RELOAD_BUILT = re.compile(r"generation (\d+) built in ([\d.]+) ms")
RELOAD_APPLIED = re.compile(r"update applied: generation (\d+) in use by every worker ([\d.]+) ms after the reload "
                            r"began \(parse and validate ([\d.]+) ms, build ([\d.]+) ms, publication (\d+) us\)")
RELOAD_UNCHANGED = re.compile(r"update applied: generation (\d+) unchanged \(.*validated in ([\d.]+) ms\)")
RELOAD_REJECTED = re.compile(r"reload (rejected|failed): ")
FINAL_COUNTER = re.compile(r"^\s+([a-z_][a-z0-9_.]*)\s+(\d+)\s*$")


def parse_rate(text):
    """A rate as the summary line prints it: "1.23M" -> 1230000.0, "450k" -> 450000.0, "12" -> 12.0;
    "-", "" or anything unreadable -> None."""
    if text in ("-", ""):
        return None
    scale = 1.0
    if text[-1] in "Mk":
        scale = 1e6 if text[-1] == "M" else 1e3
        text = text[:-1]
    try:
        return float(text) * scale
    except ValueError:
        return None


def log_timestamp(text):
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def log_entries(text):
    """(unix time, level, message) for every spdlog line (continuation lines are skipped)."""
    entries = []
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if m:
            entries.append((log_timestamp(m.group(1)), m.group(2), m.group(3)))
    return entries


def parse_final_counters(text):
    """{counter name: value} of the last "final counters:" block, None without one."""
    index = text.rfind("final counters:")
    if index < 0:
        return None
    counters = {}
    for line in text[index:].splitlines()[1:]:
        m = FINAL_COUNTER.match(line)
        if m:
            counters[m.group(1)] = int(m.group(2))
        elif not line.startswith(" ") or line.startswith("per-endpoint"):
            break
    return counters


@dataclasses.dataclass
class Reload:
    """One SIGHUP reload. start: log time of "SIGHUP: reloading". A published generation has
    generation, workers, publish_us, build_ms, load_ms (vipgate's "parse and validate" figure),
    reload_ms (reload start to every worker) and in_use (log time of "update applied"); an
    unchanged one: generation, unchanged, load_ms and in_use (what the file asks for is in use
    already); a refusal: rejected (the message). A generation that workers did not all take up
    gets `stalled` (the message) and no in_use."""
    start: float
    generation: int = None
    workers: int = None
    publish_us: int = None
    build_ms: float = None
    load_ms: float = None
    reload_ms: float = None
    in_use: float = None
    unchanged: bool = False
    rejected: str = None
    stalled: str = None


def parse_reloads(text):
    """Every SIGHUP reload in a vipgate log, in order (a list of Reload)."""
    reloads = []
    current = None
    for when, _, message in log_entries(text):
        if RELOAD_START.match(message):
            current = Reload(start=when)
            reloads.append(current)
            continue
        if current is None:
            continue
        m = RELOAD_PUBLISHED.match(message)
        if m:
            current.generation, current.workers, current.publish_us = int(m.group(1)), int(m.group(2)), \
                int(m.group(3))
            continue
        m = RELOAD_STALLED.match(message)
        if m:
            current.generation, current.stalled = int(m.group(1)), message
            continue
        m = RELOAD_BUILT.match(message)
        if m:
            current.generation, current.build_ms = int(m.group(1)), float(m.group(2))
            continue
        m = RELOAD_APPLIED.match(message)
        if m:
            current.generation = int(m.group(1))
            current.reload_ms, current.load_ms, current.build_ms = float(m.group(2)), float(m.group(3)), \
                float(m.group(4))
            current.publish_us = int(m.group(5))
            if current.stalled is None:
                current.in_use = when
            current = None
            continue
        m = RELOAD_UNCHANGED.match(message)
        if m:
            current.generation, current.unchanged, current.load_ms = int(m.group(1)), True, float(m.group(2))
            current.in_use = when
            current = None
            continue
        if RELOAD_REJECTED.match(message):
            current.rejected = message
            current = None
    return reloads


@dataclasses.dataclass
class Interval:
    """One per-interval summary line: its log time and the rates it prints (None: "-")."""
    time: float
    rx_pps: float
    tx_pps: float
    new_per_s: float
    active: int
    drops_per_s: float


def parse_intervals(text):
    out = []
    for when, _, message in log_entries(text):
        m = INTERVAL.search(message)
        if m:
            out.append(Interval(time=when, rx_pps=parse_rate(m.group(1)), tx_pps=parse_rate(m.group(2)),
                                new_per_s=parse_rate(m.group(3)), active=int(m.group(4)),
                                drops_per_s=parse_rate(m.group(5))))
    return out
