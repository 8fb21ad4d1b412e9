"""The update storm's bookkeeping: each SIGHUP the suite sent, paired with the vipgate reload
that put it in use."""
import dataclasses

from .logparse import parse_reloads
from .results import Distribution, UpdateSummary

# spdlog truncates its timestamps to the millisecond.
LOG_RESOLUTION_S = 0.001


@dataclasses.dataclass
class Update:
    k: int            # its place in the storm
    action: str       # "add" / "remove" the 11th endpoint (or what a test did)
    sent: float       # unix time of the SIGHUP
    service: int = None


def storm_latencies(updates, text):
    """Pairs the SIGHUPs with vipgate's reloads (parse_reloads). An update is in use once the
    first reload that started after it was sent is in use by every worker (SIGHUPs that
    arrive during a reload are coalesced into the next one, which then serves all of them;
    that reload may find the file unchanged, the update then being in use already)."""
    reloads = parse_reloads(text)
    end_to_end, unserved = [], 0
    served_by = []
    for update in updates:
        reload = next((r for r in reloads if r.start >= update.sent - LOG_RESOLUTION_S), None)
        if reload is None or reload.in_use is None:
            unserved += 1
            continue
        served_by.append(id(reload))
        end_to_end.append(max(0.0, (reload.in_use - update.sent) * 1000))
    published = [r for r in reloads if r.in_use is not None and not r.unchanged]
    return UpdateSummary(
        sent=len(updates), reloads=len(reloads),
        applied=sum(1 for r in reloads if r.in_use is not None),
        unchanged=sum(1 for r in reloads if r.unchanged),
        rejected=sum(1 for r in reloads if r.rejected is not None),
        stalled=sum(1 for r in reloads if r.stalled is not None),
        not_in_use=unserved, coalesced=len(served_by) - len(set(served_by)),
        update_to_all_workers_ms=Distribution.of(end_to_end),
        build_ms=Distribution.of([r.build_ms for r in published]),
        load_ms=Distribution.of([r.load_ms for r in published]),
        publication_to_all_workers_us=Distribution.of([r.publish_us for r in published]))
