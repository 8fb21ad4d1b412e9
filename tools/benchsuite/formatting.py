"""Numbers as the report prints them, and the ratio every comparison uses."""
import math
import sys
import time


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fmt_mpps(pps, digits=2):
    return "-" if pps is None else f"{pps / 1e6:.{digits}f}"


def fmt_ratio(value):
    return "-" if value is None else f"{value:.2f}"


def fmt_us(ns):
    return "-" if ns is None else f"{ns / 1000:.1f}"


def fmt_count(value):
    return "-" if value is None else f"{value:,}"


def pct(value, digits=2):
    return "-" if value is None else f"{100 * value:.{digits}f} %"


def mib(kb):
    return "-" if kb is None else f"{kb / 1024:,.1f} MiB"


def num(value):
    return "-" if value is None else f"{value:.1f}"


def ratio(numerator, denominator):
    """numerator / denominator, or None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def human(n):
    """1000000 -> 1M, 10000 -> 10k, 1500 -> 1500."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def round_up(value, step):
    return int(math.ceil(value / step) * step)
