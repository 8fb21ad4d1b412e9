// Speed of two data structures on their own, apart from the packet path: Maglev table builds at
// the largest table size (the paper reports 1.8 ms for M = 65537 and 1,000 backends) and
// connection-table lookups at a million connections in random order (memory per connection
// too). Not a test: run it by hand (tests/bench/README.md); the unit suite checks correctness.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <rte_byteorder.h>
#include <rte_eal.h>
#include <rte_memory.h>

#include "dataplane/conn_table.h"
#include "dataplane/maglev.h"

namespace vipgate {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kMaglevTableSize = 65537;
constexpr uint32_t kMaglevRepetitions = 10;
constexpr uint32_t kConnections = 1'000'000;
constexpr uint32_t kLookupBatch = 32;

const ConnTimeouts kTimeouts{.tcp_syn_ms = 5'000,
                             .tcp_established_ms = 3'600'000,
                             .tcp_closing_ms = 60'000,
                             .tcp_closed_ms = 10'000,
                             .udp_ms = 30'000,
                             .icmp_ms = 10'000,
                             .udp_unreplied_ms = 20'000};

void bench_maglev() {
    for (uint32_t count : {100u, 1000u}) {
        std::vector<MaglevBackend> backends;
        for (uint32_t i = 0; i < count; ++i) {
            backends.push_back(MaglevBackend{(uint64_t{0x0a000000u + i} << 16) | 8080, i, 1});
        }
        const auto start = Clock::now();
        for (uint32_t repetition = 0; repetition < kMaglevRepetitions; ++repetition) {
            MaglevTable::build(backends, kMaglevTableSize, repetition);
        }
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count() / kMaglevRepetitions;
        std::printf("maglev build    M=%u, %4u backends: %8.2f ms\n", kMaglevTableSize, count, ms);
    }
}

FlowKey4 make_key(uint32_t src_addr, uint16_t src_port, uint32_t dst_addr, uint16_t dst_port) {
    FlowKey4 key;
    key.src_addr = rte_cpu_to_be_32(src_addr);
    key.dst_addr = rte_cpu_to_be_32(dst_addr);
    key.src_port = rte_cpu_to_be_16(src_port);
    key.dst_port = rte_cpu_to_be_16(dst_port);
    key.protocol = kProtoTcp;
    return key;
}

// Returns false when a lookup found the wrong connection (the figures would mean nothing).
bool bench_conn_table() {
    ConnTable* table = ConnTable::create(kConnections, 0x1234, SOCKET_ID_ANY);
    if (table == nullptr) {
        std::fprintf(stderr, "ConnTable::create(%u) failed\n", kConnections);
        return false;
    }
    std::printf("conntrack       %zu bytes per connection (%zu bytes for %u connections)\n",
                table->bytes_per_connection(), table->memory_bytes(), table->capacity());
    std::vector<FlowKey4> originals(kConnections);
    std::vector<FlowKey4> replies(kConnections);
    for (uint32_t n = 0; n < kConnections; ++n) {
        const uint32_t client = 0xc6130000u + n / 50'000;  // 198.19.0.0/16
        const auto client_port = static_cast<uint16_t>(10'000 + n % 50'000);
        originals[n] = make_key(client, client_port, 0xc612000au, 80);
        replies[n] = make_key(0xc6120100u + n % 16, 8080, client, client_port);
        if (table->insert(originals[n], replies[n], TcpState::Established, 0, kTimeouts).connection == nullptr) {
            std::fprintf(stderr, "insert %u failed\n", n);
            ConnTable::destroy(table);
            return false;
        }
    }
    std::vector<uint32_t> order(kConnections);
    for (uint32_t n = 0; n < kConnections; ++n) order[n] = n;
    std::shuffle(order.begin(), order.end(), std::mt19937(1));
    std::vector<FlowKey4> keys(kConnections);
    std::vector<ConnLookupResult> results(kConnections);
    bool correct = true;
    for (const bool reply : {false, true}) {
        for (uint32_t n = 0; n < kConnections; ++n) keys[n] = reply ? replies[order[n]] : originals[order[n]];
        const auto start = Clock::now();
        for (uint32_t n = 0; n < kConnections; n += kLookupBatch)
            table->lookup_bulk(&keys[n], kLookupBatch, &results[n]);
        const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / kConnections;
        for (uint32_t n = 0; n < kConnections; ++n) {
            correct =
                correct && results[n].connection != nullptr && results[n].connection->original == originals[order[n]];
        }
        std::printf(
            "conntrack       lookup_bulk, %u connections, batches of %u, random order, %s keys: %.1f ns per lookup\n",
            kConnections, kLookupBatch, reply ? "reply" : "original", ns);
    }
    ConnTable::destroy(table);
    if (!correct) std::fprintf(stderr, "a lookup found the wrong connection\n");
    return correct;
}

}  // namespace
}  // namespace vipgate

int main(int argc, char** argv) {
    std::vector<std::string> eal_args = {argv[0],       "--no-huge",        "-m", "1024", "--no-pci",
                                         "--no-shconf", "--log-level=error"};
    std::vector<char*> eal_argv;
    for (auto& arg : eal_args) eal_argv.push_back(arg.data());
    (void)argc;
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "rte_eal_init failed\n");
        return 1;
    }
    vipgate::bench_maglev();
    const bool ok = vipgate::bench_conn_table();
    rte_eal_cleanup();
    return ok ? 0 : 1;
}
