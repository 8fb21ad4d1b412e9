// Speed of two data structures on their own, apart from the packet path: Maglev table builds at
// the largest table size (the paper reports 1.8 ms for M = 65537 and 1,000 backends) and
// the connection tables, IPv4 beside IPv6 in one run: established lookups at a million
// connections in random order and cache-resident, new-flow inserts, memory per connection.
// Not a test: run it by hand (tests/bench/README.md); the unit suite checks correctness.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <rte_byteorder.h>
#include <rte_eal.h>
#include <rte_memory.h>

#include "dataplane/conn_table.h"
#include "dataplane/conn_table6.h"
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

// 2001:db8:<group>::<low>.
void make_address6(uint8_t (&address)[16], uint8_t group, uint32_t low) {
    const uint8_t prefix[6] = {0x20, 0x01, 0x0d, 0xb8, 0, group};
    std::memset(address, 0, sizeof(address));
    std::memcpy(address, prefix, sizeof(prefix));
    const uint32_t low_be = rte_cpu_to_be_32(low);
    std::memcpy(address + 12, &low_be, sizeof(low_be));
}

// Flow n of either family: client n / 50,000 port 10,000 + n % 50,000 to one VIP port 80,
// one of 16 endpoints port 8080, DNAT-only (IPv4) or full-NAT (IPv6, the wider reply path:
// its destination comes from the SNAT slot) so both reply shapes are measured.
struct Flows4 {
    using Table = ConnTable;
    using Entry = Connection;
    using Key = FlowKey4;
    static constexpr const char* kName = "IPv4";
    std::vector<FlowKey4> originals, replies;

    explicit Flows4(uint32_t count) : originals(count), replies(count) {
        for (uint32_t n = 0; n < count; ++n) {
            const uint32_t client = 0xc6130000u + n / 50'000;  // 198.19.0.0/16
            const auto client_port = static_cast<uint16_t>(10'000 + n % 50'000);
            originals[n] = make_key(client, client_port, 0xc612000au, 80);
            replies[n] = make_key(0xc6120100u + n % 16, 8080, client, client_port);
        }
    }
    static ConnTable* create(uint32_t capacity) { return ConnTable::create(capacity, 0x1234, SOCKET_ID_ANY); }
    bool insert(ConnTable& table, uint32_t n, TcpState state) const {
        return table.insert(originals[n], replies[n], state, 0, kTimeouts).connection != nullptr;
    }
    const FlowKey4& reply_key(uint32_t n) const { return replies[n]; }
};

struct Flows6 {
    using Table = ConnTable6;
    using Entry = Connection6;
    using Key = FlowKey6;
    static constexpr const char* kName = "IPv6";
    static constexpr uint8_t kSnatSlot = 0;
    std::vector<FlowKey6> originals, replies;
    std::vector<ReplySide6> sides;
    uint8_t snat_address[16] = {};

    explicit Flows6(uint32_t count) : originals(count), replies(count), sides(count) {
        make_address6(snat_address, 5, 1);
        for (uint32_t n = 0; n < count; ++n) {
            FlowKey6& original = originals[n];
            make_address6(original.src_addr, 1, n / 50'000);
            make_address6(original.dst_addr, 2, 0xa);
            original.src_port = rte_cpu_to_be_16(static_cast<uint16_t>(10'000 + n % 50'000));
            original.dst_port = rte_cpu_to_be_16(80);
            original.protocol = kProtoTcp;
            ReplySide6& side = sides[n];
            make_address6(side.endpoint_addr, 3, 1 + n % 16);
            side.endpoint_port = rte_cpu_to_be_16(8080);
            // A distinct SNAT port per (endpoint, flow): ports 1024.. per endpoint address.
            side.dst_port = rte_cpu_to_be_16(static_cast<uint16_t>(1024 + (n / 16) % 64'000));
            side.snat_slot = kSnatSlot;
            FlowKey6& reply = replies[n];
            std::memcpy(reply.src_addr, side.endpoint_addr, 16);
            std::memcpy(reply.dst_addr, snat_address, 16);
            reply.src_port = side.endpoint_port;
            reply.dst_port = side.dst_port;
            reply.protocol = kProtoTcp;
        }
    }
    ConnTable6* create(uint32_t capacity) const {
        ConnTable6* table = ConnTable6::create(capacity, 0x1234, SOCKET_ID_ANY);
        if (table != nullptr) table->set_snat_address(kSnatSlot, snat_address);
        return table;
    }
    bool insert(ConnTable6& table, uint32_t n, TcpState state) const {
        return table.insert(originals[n], sides[n], state, 0, kTimeouts).connection != nullptr;
    }
    const FlowKey6& reply_key(uint32_t n) const { return replies[n]; }
};

double thread_ns() {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

// One family's table filled with `count` established connections, looked up in random order.
template <class Flows>
struct LookupBench {
    const Flows& flows;
    typename Flows::Table* table;
    std::vector<typename Flows::Key> keys[2];  // original, reply; in `order`
    std::vector<uint32_t> order;
    std::vector<BasicLookupResult<typename Flows::Entry>> results;

    LookupBench(const Flows& flows_in, uint32_t count) : flows(flows_in), table(flows_in.create(count)), order(count) {
        results.resize(count);
        for (uint32_t n = 0; n < count; ++n) order[n] = n;
        std::shuffle(order.begin(), order.end(), std::mt19937(1));
        for (uint32_t n = 0; n < count; ++n) {
            keys[0].push_back(flows.originals[order[n]]);
            keys[1].push_back(flows.reply_key(order[n]));
        }
        if (table == nullptr) return;
        for (uint32_t n = 0; n < count; ++n) {
            if (!flows.insert(*table, n, TcpState::Established)) {
                Flows::Table::destroy(table);
                table = nullptr;
                return;
            }
        }
    }
    ~LookupBench() { Flows::Table::destroy(table); }
    LookupBench(const LookupBench&) = delete;
    LookupBench& operator=(const LookupBench&) = delete;

    // ns per lookup of direction `reply`; false in `correct` when a lookup found the wrong entry.
    double run(bool reply, bool& correct) {
        const auto count = static_cast<uint32_t>(order.size());
        const auto& batch_keys = keys[reply ? 1 : 0];
        const double start = thread_ns();
        for (uint32_t n = 0; n + kLookupBatch <= count; n += kLookupBatch) {
            table->lookup_bulk(&batch_keys[n], kLookupBatch, &results[n]);
        }
        const double ns = (thread_ns() - start) / count;
        for (uint32_t n = 0; n < count; ++n) {
            correct = correct && results[n].connection != nullptr &&
                      results[n].connection->original == flows.originals[order[n]];
        }
        return ns;
    }
};

// ns per new connection: `count` SYNs into a fresh table filled to 80 % of its capacity.
template <class Flows>
double insert_new_flows(const Flows& flows, uint32_t count, bool& correct) {
    typename Flows::Table* table = flows.create(count / 4 * 5);
    if (table == nullptr) {
        correct = false;
        return 0;
    }
    const double start = thread_ns();
    for (uint32_t n = 0; n < count; ++n) correct = flows.insert(*table, n, TcpState::SynSent) && correct;
    const double ns = (thread_ns() - start) / count;
    Flows::Table::destroy(table);
    return ns;
}

constexpr uint32_t kSmallConnections = 1'024;  // a multiple of kLookupBatch
constexpr uint32_t kRounds = 5;

// IPv4 beside IPv6 in one run, rounds alternating the families; medians of thread CPU time.
// The IPv4 flows are DNAT-only and the IPv6 ones full-NAT, so the IPv6 reply lookups go
// through the SNAT slot (the longer comparison).
bool bench_conn_tables() {
    const Flows4 flows4(kConnections);
    const Flows6 flows6(kConnections);
    bool correct = true;
    {
        ConnTable* table4 = Flows4::create(kConnections);
        ConnTable6* table6 = flows6.create(kConnections);
        if (table4 == nullptr || table6 == nullptr) {
            std::fprintf(stderr, "creating the tables failed\n");
            ConnTable::destroy(table4);
            ConnTable6::destroy(table6);
            return false;
        }
        std::printf("conntrack       bytes per connection: IPv4 %zu, IPv6 %zu (%u connections)\n",
                    table4->bytes_per_connection(), table6->bytes_per_connection(), kConnections);
        ConnTable::destroy(table4);
        ConnTable6::destroy(table6);
    }
    struct Row {
        const char* name;
        std::vector<double> ns4, ns6;
    };
    Row rows[] = {{"established, 1M connections, original keys", {}, {}},
                  {"established, 1M connections, reply keys", {}, {}},
                  {"established, 1,024 connections (cache-resident), original keys", {}, {}},
                  {"established, 1,024 connections (cache-resident), reply keys", {}, {}},
                  {"new flows (SYN insert), 1M into a fresh 1.25M table", {}, {}}};
    {
        LookupBench<Flows4> large4(flows4, kConnections);
        LookupBench<Flows6> large6(flows6, kConnections);
        LookupBench<Flows4> small4(flows4, kSmallConnections);
        LookupBench<Flows6> small6(flows6, kSmallConnections);
        if (large4.table == nullptr || large6.table == nullptr || small4.table == nullptr || small6.table == nullptr) {
            std::fprintf(stderr, "filling the tables failed\n");
            return false;
        }
        for (uint32_t round = 0; round < kRounds; ++round) {
            for (const bool reply : {false, true}) {
                rows[reply].ns4.push_back(large4.run(reply, correct));
                rows[reply].ns6.push_back(large6.run(reply, correct));
                // The small tables: many passes, so the time is not one cold pass.
                double small_ns4 = 0, small_ns6 = 0;
                for (uint32_t pass = 0; pass < 1000; ++pass) {
                    small_ns4 += small4.run(reply, correct);
                    small_ns6 += small6.run(reply, correct);
                }
                rows[2 + reply].ns4.push_back(small_ns4 / 1000);
                rows[2 + reply].ns6.push_back(small_ns6 / 1000);
            }
        }
    }
    for (uint32_t round = 0; round < kRounds; ++round) {
        rows[4].ns4.push_back(insert_new_flows(flows4, kConnections, correct));
        rows[4].ns6.push_back(insert_new_flows(flows6, kConnections, correct));
    }
    std::printf("conntrack       lookup_bulk in batches of %u, random order; medians of %u rounds, thread CPU time\n",
                kLookupBatch, kRounds);
    std::printf("%-66s %9s %9s %12s\n", "conntrack path", "IPv4 ns", "IPv6 ns", "IPv6/IPv4");
    for (const Row& row : rows) {
        const double ns4 = median(row.ns4);
        const double ns6 = median(row.ns6);
        std::printf("%-66s %9.1f %9.1f %11.2fx\n", row.name, ns4, ns6, ns4 / ns6);
    }
    std::printf("(IPv6/IPv4 is the rate ratio, IPv4 ns / IPv6 ns; goal >= 0.8x)\n");
    if (!correct) std::fprintf(stderr, "a lookup found the wrong connection or an insert failed\n");
    return correct;
}

}  // namespace
}  // namespace vipgate

int main(int argc, char** argv) {
    std::vector<std::string> eal_args = {argv[0],       "--no-huge",        "-m", "2048", "--no-pci",
                                         "--no-shconf", "--log-level=error"};
    std::vector<char*> eal_argv;
    for (auto& arg : eal_args) eal_argv.push_back(arg.data());
    (void)argc;
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "rte_eal_init failed\n");
        return 1;
    }
    vipgate::bench_maglev();
    const bool ok = vipgate::bench_conn_tables();
    rte_eal_cleanup();
    return ok ? 0 : 1;
}
