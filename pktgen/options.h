// vipgen's command line (Boost.Program_options), parsed into a plain struct.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pktgen/checker.h"
#include "pktgen/packet_factory.h"
#include "pktgen/run_control.h"
#include "pktgen/targets.h"
#include "pktgen/traffic_pattern.h"

namespace vipgen {

struct Options {
    std::vector<std::string> eal_args;  // after argv[0]
    std::string port;                   // DPDK device string
    uint32_t lcores = 1;
    CheckMode mode = CheckMode::Gateway;
    std::vector<std::string> config_files;
    PatternConfig pattern;  // lcore fields are filled per lcore
    Protocols protocols = Protocols::Any;
    FrameSizes sizes = FrameSizes::fixed(64);
    std::string size_text = "64";
    double rate_pps = 0;  // client packets per second, all lcores; 0 = unlimited
    double duration_s = 5;
    double warmup_rate_pps = 1e6;
    bool search = false;
    double pdr_loss_percent = 0.5;
    double precision = 0.02;
    ClientSpace clients{0xC6130000u, 1u << 16, 1024, 65535};  // 198.19.0.0/16, ports 1024-65535
    ClientSpace6 clients6{{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0c, 0, 0},
                          1u << 8,
                          1024,
                          65535};  // 2001:db8::c:0/120, the same ports
    Families families = Families::Ipv4;
    uint32_t forwarder_vip = 0xC6126401u;  // 198.18.100.1
    uint16_t forwarder_port = 80;
    std::optional<std::array<uint8_t, 6>> gateway_mac;
    uint32_t mbufs = 65535;
    bool silent_backends = false;  // measured phase: endpoints check but do not answer
    bool json = false;
    std::string dns_names_file;  // DNS query mode (dns_mode.h) when set
    uint32_t dns_server = 0;     // host order: where the queries go
};

// Thrown for a bad command line; the message says what to fix.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Returns nullopt when --help or --version was printed.
std::optional<Options> parse_options(int argc, const char* const* argv);

}  // namespace vipgen
