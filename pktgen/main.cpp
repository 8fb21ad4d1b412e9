// vipgen: drives vipgate (or any forwarder) at line rate and checks every packet that comes
// back. See pktgen/README.md.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include <rte_eal.h>

#include "pktgen/options.h"
#include "pktgen/report.h"
#include "pktgen/trial.h"

namespace {

constexpr int kExitClean = 0;
constexpr int kExitCheckFailures = 1;
constexpr int kExitUsage = 2;

// vipgate resolves no IPv6 next hop yet (no Neighbor Discovery): an IPv6 client or endpoint
// without a static neighbor has its packets dropped as ipv6_no_neighbor. Say so before a run
// that would only count them as lost.
void warn_missing_neighbors(const vipgen::Options& options, const vipgen::Targets& targets) {
    if (!targets.has_ipv6()) return;
    const auto& known = targets.neighbors6;
    auto missing = [&](const vipgen::Address6& address) {
        return !std::binary_search(known.begin(), known.end(), address);
    };
    size_t clients_missing = 0;
    vipgen::Address6 client = options.clients6.first_address;
    const uint32_t first_low =
        static_cast<uint32_t>(client[12] << 24 | client[13] << 16 | client[14] << 8 | client[15]);
    for (uint32_t i = 0; i < options.clients6.address_count && i < (1u << 16); ++i) {
        const uint32_t low = first_low + i;  // within the prefix: no carry into the upper 96 bits
        for (size_t byte = 0; byte < 4; ++byte) client[12 + byte] = static_cast<uint8_t>(low >> (24 - 8 * byte));
        clients_missing += missing(client) ? 1 : 0;
    }
    size_t endpoints_missing = 0;
    for (const auto& endpoint : targets.endpoints) {
        if (!vipgate::config::is_zero(endpoint.address6)) endpoints_missing += missing(endpoint.address6) ? 1 : 0;
    }
    if (clients_missing + endpoints_missing > 0) {
        std::cerr << "vipgen: warning: " << clients_missing << " IPv6 client addresses (--clients6) and "
                  << endpoints_missing
                  << " IPv6 endpoints have no [[neighbors]] entry in the first config: vipgate drops their "
                     "packets (ipv6_no_neighbor)\n";
    }
}

int run(const vipgen::Options& options) {
    using namespace vipgen;
    const Targets targets = options.mode == CheckMode::Gateway
                                ? load_targets(options.config_files, options.protocols, options.families)
                                : forwarder_targets(options.forwarder_vip, options.forwarder_port, options.protocols);
    // DNS query mode asks the gateway itself: a DNS-only gateway has no service port.
    if (targets.targets.empty() && options.dns_names_file.empty()) {
        throw std::runtime_error("the config files define no service port to send to (check --protocol)");
    }
    warn_missing_neighbors(options, targets);
    Session session(options, targets);
    RunReport report{options, targets, {}, {}, 0, std::nullopt, session.dns()};
    report.flows_opened = session.open_flows();
    report.warmup = session.warmup();
    uint64_t search_failures = 0;
    if (options.search) {
        std::vector<Measurement> trials;
        report.search = session.search(trials);
        // The result shown is the fastest loss-free trial (the NDR), else the last one.
        const Measurement* best = nullptr;
        for (const Measurement& trial : trials) {
            search_failures += trial.check_failures();
            if (trial.lost() == 0 && (best == nullptr || trial.sent_pps() > best->sent_pps())) best = &trial;
        }
        report.result = best != nullptr ? *best : trials.back();
    } else {
        report.result = session.run_trial(options.rate_pps, options.duration_s);
    }
    print_table(options.json ? std::cerr : std::cout, report);
    if (options.json) print_json(std::cout, report);

    const bool opened_all = report.flows_opened == 0 || report.flows_opened == options.pattern.flows;
    const bool clean = opened_all && search_failures == 0 && report.result.check_failures() == 0 &&
                       report.warmup.check_failures() == 0 && (options.search || report.result.lost() == 0);
    return clean ? kExitClean : kExitCheckFailures;
}

}  // namespace

int main(int argc, char** argv) {
    std::optional<vipgen::Options> options;
    try {
        options = vipgen::parse_options(argc, argv);
        if (!options) return kExitClean;
    } catch (const vipgen::UsageError& error) {
        std::cerr << "vipgen: " << error.what() << " (see --help)\n";
        return kExitUsage;
    }
    std::vector<std::string> eal_args = {argv[0]};
    eal_args.insert(eal_args.end(), options->eal_args.begin(), options->eal_args.end());
    std::vector<char*> eal_argv;
    for (auto& arg : eal_args) eal_argv.push_back(arg.data());
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        std::cerr << "vipgen: rte_eal_init failed: check --eal\n";
        return kExitUsage;
    }
    int status = kExitUsage;
    try {
        status = run(*options);
    } catch (const std::exception& error) {
        std::cerr << "vipgen: " << error.what() << "\n";
    }
    rte_eal_cleanup();
    return status;
}
