"""A run's verdict (ok / errors / failed), the facts worth a note, and its one-line headline."""
from .formatting import fmt_mpps
from .results import ERRORS, FAILED, OK


def judge(run, exit_status, result, stderr_tail):
    """ok: vipgen ran and every check was clean (loss allowed where the run expects it);
    errors: it ran but found wrong packets; failed: it did not run."""
    if result is None:
        run.problems.append(f"vipgen exit status {exit_status}, no JSON result; stderr:\n{stderr_tail}")
        run.status = FAILED
        return
    if exit_status not in (0, 1):
        run.problems.append(f"vipgen exit status {exit_status}; stderr:\n{stderr_tail}")
        run.status = FAILED
        return
    if result.errors:
        run.problems.append("wrong packets: " + ", ".join(f"{k} {v}" for k, v in result.errors.items()))
        run.status = ERRORS
        return
    # Loss is a measurement here, not an error: max-load and search trials lose packets by
    # design, and a latency or storm trial reports its loss in the tables.
    if exit_status == 1 and not result.lost:
        run.problems.append("vipgen exit status 1 without lost or wrong packets in its JSON; stderr:\n"
                            + stderr_tail)
        run.status = ERRORS
        return
    if result.lost and run.rate_pps and not run.search:
        run.notes.append(f"{result.lost:,} packets lost at {fmt_mpps(run.rate_pps)} Mpps "
                         f"({100 * (result.loss_ratio or 0):.4f} %)")
    run.status = OK


def drops_by_reason(drops):
    return ", ".join(f"{k} {v:,}" for k, v in sorted(drops.items(), key=lambda kv: -kv[1]))


def add_notes(run):
    """Facts worth a line that do not make a run fail."""
    result = run.result
    if result.alloc_failures:
        run.notes.append(f"vipgen mbuf allocation failures: {result.alloc_failures:,}")
    warm = result.warmup_check_failures
    if isinstance(warm, dict) and any(warm.values()):
        run.notes.append("checks failed during the warm-up: " + ", ".join(f"{k} {v:,}" for k, v in warm.items() if v))
    if run.pattern == "established" and result.flows_opened is not None and run.flows and run.dut == "vipgate" \
            and result.flows_opened < run.flows:
        run.notes.append(f"the warm-up opened {result.flows_opened:,} of {run.flows:,} flows")
    drops = dict(run.drops or {})
    if not run.rate_pps or run.search:
        # Overload by design: the memif ring towards the generator fills up.
        drops.pop("tx_queue_full", None)
    if drops:
        run.notes.append("vipgate drops: " + drops_by_reason(drops))
    logged = getattr(run.dut_summary, "errors_logged", None) or []
    if logged:
        run.notes.append(f"vipgate logged {len(logged)} error line(s), first: {logged[0][:200]}")


def headline(run):
    result = run.result
    if result.search:
        return (f"; NDR {fmt_mpps(result.search.ndr_pps)} Mpps, PDR {fmt_mpps(result.search.pdr_pps)} Mpps "
                "(client)")
    if "dut_pps" in result.raw:
        return (f"; DUT {fmt_mpps(result.dut_pps)} Mpps, sent {fmt_mpps(result.tx_pps)} Mpps, "
                f"loss {100 * (result.loss_ratio or 0):.3f} %")
    return ""
