#include "control/packet_capture.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_pdump.h>

#include <spdlog/spdlog.h>

namespace vipgate {
namespace {

bool capture_enabled = false;

// The value of --file-prefix as the EAL reads it ("--file-prefix X" or "--file-prefix=X").
std::string file_prefix(const std::vector<std::string>& args) {
    const std::string option = "--file-prefix";
    for (size_t index = 0; index < args.size(); ++index) {
        if (args[index] == option && index + 1 < args.size()) return args[index + 1];
        if (args[index].rfind(option + "=", 0) == 0) return args[index].substr(option.size() + 1);
    }
    return "rte";
}

}  // namespace

bool enable_packet_capture(const std::vector<std::string>& eal_args) {
    if (rte_eal_has_hugepages() == 0) {
        spdlog::info(
            "packet capture: unavailable with --no-huge (dpdk-dumpcap attaches as a secondary process "
            "and needs hugepage memory; tools/setup.sh reserves some)");
        return false;
    }
    if (rte_pdump_init() != 0) {
        spdlog::info("packet capture: unavailable ({}; --in-memory and --no-shconf turn multi-process off)",
                     rte_strerror(rte_errno));
        return false;
    }
    capture_enabled = true;
    spdlog::info("packet capture: dpdk-dumpcap --file-prefix={} -i PORT_ID -w FILE.pcapng", file_prefix(eal_args));
    return true;
}

void disable_packet_capture() {
    if (!capture_enabled) return;
    rte_pdump_uninit();
    capture_enabled = false;
}

}  // namespace vipgate
