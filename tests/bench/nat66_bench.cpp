// nat66_bench: the per-packet path (process_burst, no port I/O) for IPv4 and IPv6 side by side
// in one run (docs/ipv6.md, step 3): new flows (a SYN per flow into a fresh connection table)
// and established flows (ACKs of tracked flows, over and over), full-NAT or DNAT-only.
//
// Method, as vipgate_bench's (tests/bench/README.md): the daemon's configuration path builds
// the snapshot (dual-stack services whose pods have both addresses, so both families have the
// same Maglev tables and endpoint counts); 64-byte frames (IPv4) and 86-byte frames (IPv6: its
// header is 20 bytes longer) are restored from per-flow templates into a fixed ring of mbufs
// before each burst of 32; CPU time of the thread; rounds alternate the families and the median
// is reported. Every measured packet must come out translated: any drop fails the run.
//
//   nat66_bench [--flows N] [--vips N] [--endpoints N] [--seconds S] [--rounds N] [--dnat]
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "control/snapshot_builder.h"
#include "dataplane/affinity_table.h"
#include "dataplane/conn_table.h"
#include "dataplane/conn_table6.h"
#include "dataplane/neighbor_table.h"
#include "dataplane/pipeline.h"
#include "dataplane/worker_context.h"
#include "tests/support/ipv6_builder.h"
#include "tests/support/packet_builder.h"

namespace {

using namespace vipgate;

constexpr rte_ether_addr kPortMac{{0x02, 0, 0, 0, 0, 0x01}};
constexpr rte_ether_addr kClientMac{{0x02, 0, 0, 0, 0, 0xfe}};
constexpr uint32_t kClients = 64;  // client addresses; flows differ by port beyond that
constexpr size_t kTemplateBytes = 128;

struct Options {
    uint32_t flows = 100000;
    uint32_t vips = 100;
    uint32_t endpoints = 4;
    double seconds = 1.0;
    uint32_t rounds = 3;
    bool dnat = false;
};

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "nat66_bench: %s\n", message.c_str());
    std::exit(1);
}

std::string v4(uint32_t host) {
    return config::format_ipv4(host);
}
std::string v6(const char* prefix, uint32_t index) {
    char text[64];
    std::snprintf(text, sizeof(text), "%s%x", prefix, index);
    return text;
}
uint32_t vip4(uint32_t v) {
    return 0xC6128000 + 1 + v;  // 198.18.128.0/17
}
uint32_t endpoint4(uint32_t e) {
    return 0xC6130000 + 2 + e;  // 198.19.0.0/17
}
std::string mac_of(uint32_t e) {
    char text[32];
    std::snprintf(text, sizeof(text), "02:01:00:00:%02x:%02x", (e >> 8) & 0xFF, e & 0xFF);
    return text;
}
uint16_t client_port(uint32_t flow) {
    return static_cast<uint16_t>(1024 + flow / kClients);
}

// Clients are on-link for both families (IPv6 has no routes before step 5): a neighbor each.
std::string config_text(const Options& options) {
    std::ostringstream toml;
    toml << "[dataplane]\nworker_lcores = [1]\nnat_mode = \"" << (options.dnat ? "dnat" : "fullnat")
         << "\"\nhash_seed = 0x5eed5eed\n\n[conntrack]\ncapacity = " << options.flows * 5 / 4 + 1024 << "\n\n"
         << "[snat]\naddresses = [\"198.18.0.2\", \"2001:db8::2\"]\n\n"
         << "[[ports]]\nname = \"p0\"\ndevice = \"net_null0\"\nmac = \"02:00:00:00:00:01\"\n"
         << "addresses = [\"198.18.0.1/17\", \"198.18.0.2/17\", \"198.19.0.1/17\", \"198.19.128.1/17\", "
            "\"2001:db8::1/64\", \"2001:db8::2/64\", \"2001:db8:e::1/64\", \"2001:db8:c::1/64\"]\n\n";
    for (uint32_t c = 0; c < kClients; ++c) {
        toml << "[[neighbors]]\naddress = \"" << v4(0xC6138000 + 1 + c) << "\"\nmac = \"02:00:00:00:00:fe\"\n"
             << "[[neighbors]]\naddress = \"" << v6("2001:db8:c::", c + 0x10) << "\"\nmac = \"02:00:00:00:00:fe\"\n";
    }
    const uint32_t pods = options.vips * options.endpoints;
    for (uint32_t e = 0; e < pods; ++e) {
        toml << "[[neighbors]]\naddress = \"" << v4(endpoint4(e)) << "\"\nmac = \"" << mac_of(e) << "\"\n"
             << "[[neighbors]]\naddress = \"" << v6("2001:db8:e::", e + 0x10) << "\"\nmac = \"" << mac_of(e) << "\"\n"
             << "[[pods]]\nname = \"pod-" << e << "\"\npod_ips = [\"" << v4(endpoint4(e)) << "\", \""
             << v6("2001:db8:e::", e + 0x10) << "\"]\nlabels = { app = \"svc-" << e / options.endpoints << "\" }\n";
    }
    for (uint32_t v = 0; v < options.vips; ++v) {
        toml << "[[services]]\nname = \"svc-" << v << "\"\ncluster_ips = [\"" << v4(vip4(v)) << "\", \""
             << v6("2001:db8:100::", v + 0x10) << "\"]\nip_family_policy = \"PreferDualStack\"\n"
             << "selector = { app = \"svc-" << v << "\" }\n"
             << "ports = [{ name = \"tcp\", protocol = \"TCP\", port = 80, target_port = 8080 }]\n";
    }
    return toml.str();
}

struct alignas(64) Frame {
    uint8_t bytes[kTemplateBytes];
    uint16_t length;
};

std::vector<Frame> templates(const Options& options, bool ipv6, uint8_t flags) {
    std::vector<Frame> frames(options.flows);
    for (uint32_t i = 0; i < options.flows; ++i) {
        test::Bytes bytes;
        if (ipv6) {
            const test::Ipv6Spec ip{.src = test::ipv6(v6("2001:db8:c::", i % kClients + 0x10)),
                                    .dst = test::ipv6(v6("2001:db8:100::", i % options.vips + 0x10))};
            bytes = test::ipv6_frame({}, kProtoTcp, test::tcp6(client_port(i), 80, flags, ip), ip,
                                     {.src = kClientMac, .dst = kPortMac});
        } else {
            bytes = test::tcp_frame({.src_port = client_port(i), .dst_port = 80, .seq = 1000, .flags = flags},
                                    {.src = rte_cpu_to_be_32(0xC6138000 + 1 + i % kClients),
                                     .dst = rte_cpu_to_be_32(vip4(i % options.vips))},
                                    {.src = kClientMac, .dst = kPortMac});
            if (bytes.size() < 60) bytes = test::with_padding(std::move(bytes), 60 - bytes.size());
        }
        if (bytes.size() > kTemplateBytes) fail("template too long");
        std::memcpy(frames[i].bytes, bytes.data(), bytes.size());
        frames[i].length = static_cast<uint16_t>(bytes.size());
    }
    return frames;
}

uint64_t thread_cpu_ns() {
    timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return uint64_t(now.tv_sec) * 1'000'000'000u + uint64_t(now.tv_nsec);
}

struct World {
    Options options;
    const Snapshot* snapshot = nullptr;
    WorkerContext* context = nullptr;
    std::vector<rte_mbuf*> ring;
    uint32_t next_mbuf = 0;
    uint64_t lost = 0;
};

// One burst of `frames` from `position` on: restored into ring mbufs, processed, taken back.
uint32_t burst(World& world, const std::vector<Frame>& frames, uint32_t position) {
    rte_mbuf* packets[kBurstSize];
    for (uint16_t i = 0; i < kBurstSize; ++i) {
        rte_mbuf* m = world.ring[world.next_mbuf];
        world.next_mbuf = (world.next_mbuf + 1) % world.ring.size();
        const Frame& frame = frames[(position + i) % frames.size()];
        m->data_off = RTE_PKTMBUF_HEADROOM;
        m->data_len = m->pkt_len = frame.length;
        m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
        std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frame.bytes, kTemplateBytes);
        packets[i] = m;
    }
    process_burst(*world.context, *world.snapshot, packets, kBurstSize, false);
    TxBuffer& tx = world.context->tx[0];
    world.lost += kBurstSize - tx.count;
    tx.count = 0;
    return (position + kBurstSize) % frames.size();
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> double {
            if (i + 1 >= argc) fail(arg + " needs a value");
            return std::atof(argv[++i]);
        };
        if (arg == "--flows")
            options.flows = static_cast<uint32_t>(value()) / kBurstSize * kBurstSize;
        else if (arg == "--vips")
            options.vips = static_cast<uint32_t>(value());
        else if (arg == "--endpoints")
            options.endpoints = static_cast<uint32_t>(value());
        else if (arg == "--seconds")
            options.seconds = value();
        else if (arg == "--rounds")
            options.rounds = static_cast<uint32_t>(value());
        else if (arg == "--dnat")
            options.dnat = true;
        else
            fail("unknown argument " + arg);
    }
    if (options.flows == 0 || options.vips == 0 || options.endpoints == 0 || options.vips * options.endpoints > 4000)
        fail("--flows, --vips, --endpoints must be positive, vips x endpoints at most 4000");
    std::vector<std::string> eal_args = {argv[0],    "--no-huge",      "--no-shconf", "-m", "2048",
                                         "--no-pci", "--no-telemetry", "-l",          "0",  "--log-level=error"};
    std::vector<char*> eal_argv;
    for (auto& arg : eal_args) eal_argv.push_back(arg.data());
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        fail(std::string("rte_eal_init failed: ") + rte_strerror(rte_errno));
    }
    config::LoadResult loaded = config::load_config_string(config_text(options), "nat66_bench");
    if (!loaded.config) {
        std::string message = "configuration rejected:";
        for (const auto& error : loaded.errors) message += "\n  " + error.to_string();
        fail(message);
    }
    PortIdentity port;
    port.mac = kPortMac;
    auto builder = std::make_unique<SnapshotBuilder>(1, std::vector<PortIdentity>{port});
    std::unique_ptr<Snapshot> snapshot = builder->build(*loaded.config);

    NeighborTable neighbors;
    for (const auto& neighbor : loaded.config->neighbors) {
        if (!config::is_zero(neighbor.address6)) continue;
        rte_ether_addr mac;
        std::memcpy(mac.addr_bytes, neighbor.mac.data(), RTE_ETHER_ADDR_LEN);
        neighbors.learn(rte_cpu_to_be_32(neighbor.address), mac, true);
    }
    auto context = std::make_unique<WorkerContext>();
    context->port_count = 1;
    context->neighbors = &neighbors;
    context->affinity = AffinityTable::create(AffinityTable::kDefaultCapacity, 1, SOCKET_ID_ANY);
    context->affinity6 = AffinityTable6::create(AffinityTable6::kDefaultCapacity, 1, SOCKET_ID_ANY);
    std::vector<EndpointCounters> endpoint_counters(SnapshotBuilder::kMaxEndpointSlots);
    context->endpoint_counters = endpoint_counters.data();
    context->endpoint_counter_slots = SnapshotBuilder::kMaxEndpointSlots;
    rte_mempool* pool = rte_pktmbuf_pool_create("nat66_bench", 4095, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (pool == nullptr) fail("cannot create the mbuf pool");
    World world{options, snapshot.get(), context.get(), std::vector<rte_mbuf*>(2048), 0, 0};
    if (rte_pktmbuf_alloc_bulk(pool, world.ring.data(), 2048) != 0) fail("cannot allocate mbufs");

    const std::vector<Frame> syn4 = templates(options, false, 0x02), ack4 = templates(options, false, 0x10);
    const std::vector<Frame> syn6 = templates(options, true, 0x02), ack6 = templates(options, true, 0x10);
    const uint32_t capacity = options.flows * 5 / 4 + 1024;
    std::vector<double> new_ns[2], established_ns[2];
    for (uint32_t round = 0; round < options.rounds; ++round) {
        for (int family = 0; family < 2; ++family) {
            const bool ipv6 = family == 1;
            ConnTable::destroy(context->connections);
            ConnTable6::destroy(context->connections6);
            context->connections = ConnTable::create(capacity, 7, SOCKET_ID_ANY);
            context->connections6 = ConnTable6::create(capacity, 7, SOCKET_ID_ANY);
            context->snat6_slots_known = 0;
            if (context->connections == nullptr || context->connections6 == nullptr) fail("cannot create the tables");
            context->now_ms = 1000;
            const uint64_t lost_before = world.lost;
            // New flows: every flow's SYN once, into the fresh table.
            const std::vector<Frame>& syn = ipv6 ? syn6 : syn4;
            uint64_t start = thread_cpu_ns();
            for (uint32_t position = 0; position < options.flows; position += kBurstSize) burst(world, syn, position);
            new_ns[family].push_back(double(thread_cpu_ns() - start) / options.flows);
            const uint32_t tracked = ipv6 ? context->connections6->size() : context->connections->size();
            if (tracked != options.flows) fail("new flows: " + std::to_string(tracked) + " tracked, not all");
            // Established: the flows' ACKs, round after round, for `seconds` of CPU time.
            const std::vector<Frame>& ack = ipv6 ? ack6 : ack4;
            uint64_t packets = 0;
            uint32_t position = 0;
            start = thread_cpu_ns();
            while (thread_cpu_ns() - start < uint64_t(options.seconds * 1e9)) {
                for (int i = 0; i < 64; ++i) position = burst(world, ack, position);
                packets += 64 * kBurstSize;
            }
            established_ns[family].push_back(double(thread_cpu_ns() - start) / double(packets));
            if (world.lost != lost_before) {
                std::string drops;
                for (size_t r = 0; r < kDropReasonCount; ++r) {
                    if (context->counters.drops[r] == 0) continue;
                    drops.append(" ").append(drop_reason_name(static_cast<DropReason>(r))).append("=");
                    drops += std::to_string(context->counters.drops[r]);
                }
                std::string message = ipv6 ? "IPv6" : "IPv4";
                fail(message.append(": packets not forwarded:").append(drops));
            }
        }
    }
    const double n4 = median(new_ns[0]), n6 = median(new_ns[1]);
    const double e4 = median(established_ns[0]), e6 = median(established_ns[1]);
    std::printf("nat66_bench: %s, %u flows, %u VIPs x %u endpoints, %u rounds (median ns of thread CPU time)\n",
                options.dnat ? "DNAT-only" : "full-NAT", options.flows, options.vips, options.endpoints,
                options.rounds);
    std::printf("%-24s %10s %10s %16s\n", "path", "IPv4 ns", "IPv6 ns", "IPv6/IPv4 rate");
    std::printf("%-24s %10.1f %10.1f %16.2f\n", "new flow (SYN)", n4, n6, n4 / n6);
    std::printf("%-24s %10.1f %10.1f %16.2f\n", "established (ACK)", e4, e6, e4 / e6);
    ConnTable::destroy(context->connections);
    ConnTable6::destroy(context->connections6);
    AffinityTable::destroy(context->affinity);
    AffinityTable6::destroy(context->affinity6);
    snapshot.reset();
    builder.reset();
    rte_eal_cleanup();
    return 0;
}
