// vipgen: drives vipgate (or any forwarder) at line rate and checks every packet that comes
// back. See pktgen/README.md.
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

int run(const vipgen::Options& options) {
    using namespace vipgen;
    const Targets targets = options.mode == CheckMode::Gateway
                                ? load_targets(options.config_files, options.protocols)
                                : forwarder_targets(options.forwarder_vip, options.forwarder_port, options.protocols);
    // DNS query mode asks the gateway itself: a DNS-only gateway has no service port.
    if (targets.targets.empty() && options.dns_names_file.empty()) {
        throw std::runtime_error("the config files define no service port to send to (check --protocol)");
    }
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
