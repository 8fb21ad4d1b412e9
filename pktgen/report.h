// vipgen's output: the final table for people and the JSON object for scripts.
#pragma once

#include <optional>
#include <ostream>
#include <vector>

#include "pktgen/options.h"
#include "pktgen/rate_search.h"
#include "pktgen/targets.h"
#include "pktgen/trial.h"

namespace vipgen {

struct RunReport {
    const Options& options;
    const Targets& targets;
    Measurement result;  // the run, or the search's best zero-loss trial
    Measurement warmup;  // the flow-opening passes (established, mixed)
    uint64_t flows_opened = 0;
    std::optional<SearchResult> search;
    const DnsMode* dns = nullptr;  // DNS query mode
};

void print_table(std::ostream& out, const RunReport& report);
void print_json(std::ostream& out, const RunReport& report);

}  // namespace vipgen
