// vipgate_bench: speed of the per-packet path (process_burst) on one core, no port I/O.
//
// The main lcore acts as the only worker (WorkerContext with worker_count 1). Packets are
// 64-byte TCP frames (60 bytes plus the FCS the NIC strips) held in a fixed ring of mbufs, the
// way a NIC's RX ring recycles a few thousand buffers whatever the number of flows. Before a
// packet enters a burst its bytes are restored from the flow's 64-byte template (the pipeline
// rewrites packets in place). The baseline loop pays exactly the same restore, over the same
// mbufs and the same template order, then does what a minimal forwarder does (read the
// Ethernet header, swap the MACs, put the packet in a TX array), so the ratio between the two
// isolates what the load balancer adds. TX buffers are emptied by resetting their count: the
// mbufs stay alive and are reused, and any drop (which would free an mbuf) fails the run.
//
// Phases (see README.md next to this file): a) baseline loops; b) new-flow path, a SYN of a
// never-seen flow per packet into a fresh connection table per run; c) established path with
// --flows tracked flows over --vips VIPs, visited in random order; d) established path with one
// VIP and 1k flows (everything cache-resident). Each of b, c, d is measured in rounds that
// alternate with its own baseline (same template order), and medians are reported.
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memory.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include "config/config.h"
#include "control/snapshot_builder.h"
#include "dataplane/affinity_table.h"
#include "dataplane/conn_table.h"
#include "dataplane/counters.h"
#include "dataplane/neighbor_table.h"
#include "dataplane/pipeline.h"
#include "dataplane/snapshot.h"
#include "dataplane/worker_context.h"
#include "tests/support/packet_builder.h"

namespace {

using namespace vipgate;
namespace vt = vipgate::test;
using Clock = std::chrono::steady_clock;

constexpr uint16_t kFrameLength = 60;            // a 64-byte frame on the wire, FCS stripped
constexpr size_t kTemplateBytes = 64;            // what the restore copies (frame plus 4 zero bytes)
constexpr uint32_t kMaxClients = 32000;          // client addresses in 198.19.128.0/17
constexpr uint32_t kMaxVips = 32000;             // VIPs in 198.18.128.0/17
constexpr uint32_t kEndpointAddressPool = 2000;  // directly attached endpoint addresses (NeighborTable holds 4096)
constexpr uint16_t kServicePort = 80;
constexpr uint16_t kTargetPort = 8080;
constexpr double kEstablishedTargetMpps = 10.0;
constexpr double kNewFlowTargetMfps = 3.0;

// Host-order bases of the address plan (all inside 198.18.0.0/15).
constexpr uint32_t kVipBase = 198u << 24 | 18u << 16 | 128u << 8;     // 198.18.128.0/17
constexpr uint32_t kEndpointBase = 198u << 24 | 19u << 16;            // 198.19.0.0/17 (connected)
constexpr uint32_t kClientBase = 198u << 24 | 19u << 16 | 128u << 8;  // 198.19.128.0/17 (via router)
constexpr rte_ether_addr kPortMac = vt::mac("02:00:00:00:00:01");
constexpr rte_ether_addr kRouterMac = vt::mac("02:00:00:00:00:fe");

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
    uint32_t flows = 1'000'000;
    uint32_t vips = 1000;
    uint32_t endpoints_per_vip = 10;
    double seconds = 2.0;  // measured path time per phase (the baseline gets as much)
    bool dnat = false;
    bool json = false;
    uint32_t mbufs = 2048;        // mbuf ring: what a NIC RX ring plus mempool cache recycle
    uint32_t rounds = 5;          // baseline/path alternations per phase (median reported)
    uint32_t small_flows = 1000;  // phase d
    uint64_t seed = 1;
    std::string phases = "abcd";
    bool hugepages = false;            // real hugepages instead of --no-huge
    bool software_ip_checksum = true;  // false: mbufs flagged RX_IP_CKSUM_GOOD, as a NIC would
    bool affinity = false;             // every service with sessionAffinity: ClientIP
};

[[noreturn]] void usage(const char* program, const std::string& error) {
    std::FILE* out = error.empty() ? stdout : stderr;
    if (!error.empty()) std::fprintf(out, "error: %s\n\n", error.c_str());
    std::fprintf(out,
                 "usage: %s [options]\n"
                 "  --flows N              tracked flows for phases b and c (default 1000000, rounded down to\n"
                 "                         a multiple of 32)\n"
                 "  --vips N               services, one TCP port each (default 1000, max %u)\n"
                 "  --endpoints-per-vip N  endpoints per service (default 10)\n"
                 "  --seconds S            measured seconds per phase (default 2; the baseline gets as much)\n"
                 "  --nat fullnat|dnat     NAT mode (default fullnat)\n"
                 "  --json                 print one JSON object instead of the table\n"
                 "  --mbufs N              mbufs cycled through (default 2048)\n"
                 "  --rounds N             baseline/path alternations per phase (default 5)\n"
                 "  --small-flows N        flows of phase d (default 1000)\n"
                 "  --phases LIST          subset of abcd to run (default abcd)\n"
                 "  --seed N               random order seed (default 1)\n"
                 "  --ip-checksum-offload  flag mbufs RX_IP_CKSUM_GOOD (default: software check)\n"
                 "  --hugepages            use real hugepages (EAL without --no-huge)\n"
                 "  --affinity             every service with sessionAffinity ClientIP (default: none)\n",
                 program, kMaxVips);
    std::exit(error.empty() ? 0 : 2);
}

Options parse_options(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        std::string value;
        bool has_inline_value = false;
        if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
            has_inline_value = true;
        }
        auto next = [&]() -> std::string {
            if (has_inline_value) return value;
            if (i + 1 >= argc) usage(argv[0], arg + " needs a value");
            return argv[++i];
        };
        auto number = [&](uint64_t min, uint64_t max) -> uint64_t {
            std::string text = next();
            std::string digits;
            for (char c : text) {
                if (c != ',' && c != '_' && c != '\'') digits += c;
            }
            char* end = nullptr;
            unsigned long long parsed = std::strtoull(digits.c_str(), &end, 10);
            if (digits.empty() || *end != '\0' || parsed < min || parsed > max) {
                usage(argv[0], arg + ": expected an integer in " + std::to_string(min) + ".." + std::to_string(max));
            }
            return parsed;
        };
        if (arg == "--flows")
            options.flows = static_cast<uint32_t>(number(32, 50'000'000));
        else if (arg == "--vips")
            options.vips = static_cast<uint32_t>(number(1, kMaxVips));
        else if (arg == "--endpoints-per-vip") {
            options.endpoints_per_vip = static_cast<uint32_t>(number(1, kEndpointAddressPool));
        } else if (arg == "--seconds") {
            std::string text = next();
            char* end = nullptr;
            options.seconds = std::strtod(text.c_str(), &end);
            if (*end != '\0' || !(options.seconds > 0) || options.seconds > 3600) {
                usage(argv[0], "--seconds: expected 0 < S <= 3600");
            }
        } else if (arg == "--nat") {
            std::string mode = next();
            if (mode == "fullnat")
                options.dnat = false;
            else if (mode == "dnat")
                options.dnat = true;
            else
                usage(argv[0], "--nat: expected fullnat or dnat");
        } else if (arg == "--json")
            options.json = true;
        else if (arg == "--mbufs")
            options.mbufs = static_cast<uint32_t>(number(64, 1u << 22));
        else if (arg == "--rounds")
            options.rounds = static_cast<uint32_t>(number(1, 1000));
        else if (arg == "--small-flows")
            options.small_flows = static_cast<uint32_t>(number(32, 1'000'000));
        else if (arg == "--seed")
            options.seed = number(0, UINT64_MAX);
        else if (arg == "--phases") {
            options.phases = next();
            if (options.phases.empty() || options.phases.find_first_not_of("abcd") != std::string::npos) {
                usage(argv[0], "--phases: letters among a, b, c, d");
            }
        } else if (arg == "--ip-checksum-offload")
            options.software_ip_checksum = false;
        else if (arg == "--hugepages")
            options.hugepages = true;
        else if (arg == "--affinity")
            options.affinity = true;
        else if (arg == "--help" || arg == "-h")
            usage(argv[0], "");
        else
            usage(argv[0], "unknown option " + arg);
    }
    // Phases b and c put whole bursts through the pipeline: a multiple of the burst size.
    options.flows = options.flows / kBurstSize * kBurstSize;
    // Full-NAT: one SNAT address, 64512 ports, and a reply tuple per (endpoint address, port).
    const uint32_t endpoint_addresses =
        std::min<uint32_t>(options.vips * options.endpoints_per_vip, kEndpointAddressPool);
    if (!options.dnat && options.flows / endpoint_addresses > 48000) {
        usage(argv[0],
              "full-NAT with one SNAT address holds about 64k flows per endpoint address: raise --vips or "
              "--endpoints-per-vip, or use --nat dnat");
    }
    return options;
}

bool runs(const Options& options, char phase) {
    return options.phases.find(phase) != std::string::npos;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "vipgate_bench: %s\n", message.c_str());
    std::exit(1);
}

void check(bool condition, const std::string& message) {
    if (!condition) fail(message);
}

uint32_t to_be(uint32_t host) {
    return rte_cpu_to_be_32(host);
}

std::string dotted(uint32_t host_order) {
    return config::format_ipv4(host_order);
}

uint64_t rss_bytes() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
    }
    return 0;
}

double median(std::vector<double> values) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    size_t middle = values.size() / 2;
    return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

// 1000000 -> "1,000,000"
std::string thousands(uint64_t value) {
    std::string digits = std::to_string(value);
    for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<size_t>(i), 1, ',');
    return digits;
}

std::string fixed(double value, int decimals) {
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
    return buffer;
}

// Large, 2 MiB-aligned anonymous memory for the templates, marked for transparent huge pages
// before it is first touched: the harness's own data should not add TLB misses to either loop.
template <typename T>
struct BigArray {
    T* data = nullptr;
    size_t count = 0;
    size_t bytes = 0;

    BigArray() = default;
    explicit BigArray(size_t n) : count(n) {
        constexpr size_t kAlign = 2u << 20;
        bytes = std::max<size_t>((n * sizeof(T) + kAlign - 1) / kAlign * kAlign, kAlign);
        void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (memory == MAP_FAILED) fail("cannot map " + std::to_string(bytes) + " bytes");
        madvise(memory, bytes, MADV_HUGEPAGE);
        data = static_cast<T*>(memory);
    }
    BigArray(const BigArray&) = delete;
    BigArray& operator=(const BigArray&) = delete;
    BigArray(BigArray&& other) noexcept { *this = std::move(other); }
    BigArray& operator=(BigArray&& other) noexcept {
        std::swap(data, other.data);
        std::swap(count, other.count);
        std::swap(bytes, other.bytes);
        return *this;
    }
    ~BigArray() {
        if (data != nullptr) munmap(data, bytes);
    }
    T& operator[](size_t i) { return data[i]; }
    const T& operator[](size_t i) const { return data[i]; }
};

// ---------------------------------------------------------------------------------------------
// Configuration and the worker's world

uint32_t vip_address(uint32_t vip) {
    return kVipBase + 1 + vip;
}
uint32_t endpoint_address(uint32_t pool_index) {
    return kEndpointBase + 2 + pool_index;
}  // .0.1 is ours
uint32_t client_address(uint32_t flow) {
    return kClientBase + 1 + flow % kMaxClients;
}
uint16_t client_port(uint32_t flow) {
    return static_cast<uint16_t>(1024 + flow / kMaxClients);
}

uint32_t endpoint_pool_size(uint32_t vips, uint32_t endpoints_per_vip) {
    return std::min<uint32_t>(vips * endpoints_per_vip, kEndpointAddressPool);
}

std::string mac_text(const rte_ether_addr& mac) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%02x:%02x:%02x:%02x:%02x:%02x", mac.addr_bytes[0], mac.addr_bytes[1],
                  mac.addr_bytes[2], mac.addr_bytes[3], mac.addr_bytes[4], mac.addr_bytes[5]);
    return buffer;
}

rte_ether_addr endpoint_mac(uint32_t pool_index) {
    return rte_ether_addr{
        {0x02, 0x01, 0x00, 0x00, static_cast<uint8_t>(pool_index >> 8), static_cast<uint8_t>(pool_index)}};
}

// TOML for `vips` services, one TCP port each, with `endpoints_per_vip` endpoints taken
// round-robin from a pool of directly attached endpoint addresses.
std::string make_config_text(uint32_t vips, uint32_t endpoints_per_vip, uint32_t capacity, bool dnat) {
    const uint32_t pool = endpoint_pool_size(vips, endpoints_per_vip);
    std::ostringstream toml;
    toml << "[dataplane]\nworker_lcores = [1]\nnat_mode = \"" << (dnat ? "dnat" : "fullnat")
         << "\"\nhash_seed = 0x5eed5eed\n\n"
         << "[conntrack]\ncapacity = " << capacity << "\n\n"
         << "[snat]\naddresses = [\"198.18.0.2\"]\nport_range = [1024, 65535]\n\n"
         << "[[ports]]\nname = \"p0\"\ndevice = \"net_null0\"\nmac = \"" << mac_text(kPortMac) << "\"\n"
         << "addresses = [\"198.18.0.1/17\", \"198.18.0.2/17\", \"198.19.0.1/17\"]\n\n"
         << "[[routes]]\nprefix = \"198.19.128.0/17\"\nvia = \"198.18.0.254\"\n\n"
         << "[[neighbors]]\naddress = \"198.18.0.254\"\nmac = \"" << mac_text(kRouterMac) << "\"\n\n";
    for (uint32_t e = 0; e < pool; ++e) {
        toml << "[[neighbors]]\naddress = \"" << dotted(endpoint_address(e)) << "\"\nmac = \""
             << mac_text(endpoint_mac(e)) << "\"\n";
    }
    for (uint32_t v = 0; v < vips; ++v) {
        toml << "\n[[services]]\nname = \"svc-" << v << "\"\ncluster_ip = \"" << dotted(vip_address(v))
             << "\"\nports = [{ name = \"tcp\", protocol = \"TCP\", port = " << kServicePort
             << ", target_port = " << kTargetPort << " }]\nendpoints = [";
        for (uint32_t j = 0; j < endpoints_per_vip; ++j) {
            toml << (j ? ", " : "") << "{ address = \"" << dotted(endpoint_address((v * endpoints_per_vip + j) % pool))
                 << "\" }";
        }
        toml << "]\n";
    }
    return toml.str();
}

// `affinity`: every service gets sessionAffinity ClientIP with the default timeout (set on the
// structs: the TOML decoder does not read session_affinity yet).
config::Config load_config(const std::string& text, const std::string& name, bool affinity) {
    config::LoadResult loaded = config::load_config_string(text, name);
    if (!loaded.config) {
        std::string message = "generated configuration rejected:";
        for (const auto& error : loaded.errors) message += "\n  " + error.to_string();
        fail(message);
    }
    if (affinity) {
        for (config::ServiceConfig& service : loaded.config->services) {
            service.session_affinity = config::SessionAffinity::ClientIp;
        }
    }
    return std::move(*loaded.config);
}

// ---------------------------------------------------------------------------------------------
// Templates, mbufs, streams

struct alignas(64) Frame {
    uint8_t bytes[kTemplateBytes];
};

// One 64-byte frame per flow: client -> VIP, TCP with `flags`.
BigArray<Frame> build_templates(uint32_t flows, uint32_t vips, uint8_t flags) {
    BigArray<Frame> frames(flows);
    for (uint32_t i = 0; i < flows; ++i) {
        vt::Bytes frame = vt::tcp_frame({.src_port = client_port(i),
                                         .dst_port = kServicePort,
                                         .seq = 1000 + i,
                                         .ack = (flags & RTE_TCP_ACK_FLAG) ? 5000u + i : 0u,
                                         .flags = flags},
                                        {.src = to_be(client_address(i)), .dst = to_be(vip_address(i % vips))},
                                        {.src = kRouterMac, .dst = kPortMac});
        if (frame.size() < kFrameLength) frame = vt::with_padding(std::move(frame), kFrameLength - frame.size());
        check(frame.size() == kFrameLength, "template frame is not 60 bytes");
        std::memset(frames[i].bytes, 0, kTemplateBytes);
        std::memcpy(frames[i].bytes, frame.data(), frame.size());
    }
    return frames;
}

struct MbufRing {
    std::vector<rte_mbuf*> mbufs;
    uint32_t next = 0;
};

struct Stream {
    const Frame* templates = nullptr;
    const uint32_t* order = nullptr;  // flow indices
    size_t length = 0;
    size_t position = 0;
};

uint64_t g_rx_ol_flags = 0;

// What both loops do to get a packet: the next mbuf of the ring, reset to a 60-byte frame
// holding the next flow's template.
// The templates of the next burst are prefetched: like a NIC's DMA, delivering packet bytes is
// not on the critical path of the core (it costs both loops the same either way).
inline uint16_t fill_burst(Stream& stream, MbufRing& ring, rte_mbuf** burst, uint16_t count) {
    const uint32_t ring_size = static_cast<uint32_t>(ring.mbufs.size());
    for (size_t i = 0, ahead = stream.position + count; i < count; ++i, ++ahead) {
        if (ahead >= stream.length) ahead -= stream.length;
        if (ahead < stream.length) rte_prefetch0(&stream.templates[stream.order[ahead]]);
    }
    for (uint16_t i = 0; i < count; ++i) {
        rte_mbuf* m = ring.mbufs[ring.next];
        ring.next = ring.next + 1 == ring_size ? 0 : ring.next + 1;
        const Frame& frame = stream.templates[stream.order[stream.position]];
        stream.position = stream.position + 1 == stream.length ? 0 : stream.position + 1;
        m->data_off = RTE_PKTMBUF_HEADROOM;
        m->data_len = kFrameLength;
        m->pkt_len = kFrameLength;
        m->ol_flags = g_rx_ol_flags;
        std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frame.bytes, kTemplateBytes);
        burst[i] = m;
    }
    return count;
}

// The minimal forwarder: read the Ethernet header, swap the MACs, queue for TX.
__attribute__((noinline)) void forward_minimal(rte_mbuf** burst, uint16_t count, TxBuffer& tx) {
    for (uint16_t i = 0; i < count; ++i) {
        auto* ethernet = rte_pktmbuf_mtod(burst[i], rte_ether_hdr*);
        const rte_ether_addr source = ethernet->src_addr;
        ethernet->src_addr = ethernet->dst_addr;
        ethernet->dst_addr = source;
        tx.packets[tx.count++] = burst[i];
    }
}

struct Harness {
    WorkerContext* context = nullptr;
    const Snapshot* snapshot = nullptr;
    MbufRing ring;
    TxBuffer baseline_tx;
    uint64_t cycles_per_ms = 1;
    uint64_t lost = 0;           // packets that did not come out on the TX buffer
    uint64_t baseline_sink = 0;  // keeps the baseline's work observable
};

inline uint64_t baseline_burst(Harness& harness, Stream& stream) {
    rte_mbuf* burst[kBurstSize];
    const uint16_t count = fill_burst(stream, harness.ring, burst, kBurstSize);
    forward_minimal(burst, count, harness.baseline_tx);
    harness.baseline_sink += harness.baseline_tx.count;
    harness.baseline_tx.count = 0;  // "transmitted": the mbufs stay ours
    return count;
}

inline uint64_t pipeline_burst(Harness& harness, Stream& stream) {
    rte_mbuf* burst[kBurstSize];
    const uint16_t count = fill_burst(stream, harness.ring, burst, kBurstSize);
    WorkerContext& context = *harness.context;
    context.now_ms = static_cast<uint32_t>(rte_get_tsc_cycles() / harness.cycles_per_ms);  // as the poll loop does
    process_burst(context, *harness.snapshot, burst, count, false);
    TxBuffer& tx = context.tx[0];
    harness.lost += count - tx.count;
    tx.count = 0;  // "transmitted": the mbufs stay ours
    return count;
}

// Time is the thread's CPU time (CLOCK_THREAD_CPUTIME_ID): on a shared machine the wall clock
// also counts the time other processes hold the core. Both are recorded.
uint64_t thread_cpu_ns() {
    timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return uint64_t(now.tv_sec) * 1'000'000'000u + uint64_t(now.tv_nsec);
}

uint64_t wall_ns() {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

struct Sample {
    uint64_t packets = 0;
    double ns = 0;    // thread CPU time
    double wall = 0;  // wall-clock time
    double ns_per_packet() const { return packets ? ns / double(packets) : 0; }
    double wall_per_packet() const { return packets ? wall / double(packets) : 0; }
};

// Runs `burst` until at least `seconds` of CPU time have passed and `min_packets` were processed.
template <typename Burst>
Sample run_for(double seconds, uint64_t min_packets, Burst&& burst) {
    const uint64_t start_cpu = thread_cpu_ns();
    const uint64_t start_wall = wall_ns();
    Sample sample;
    for (;;) {
        for (int i = 0; i < 64; ++i) sample.packets += burst();
        sample.ns = double(thread_cpu_ns() - start_cpu);
        if (sample.ns >= seconds * 1e9 && sample.packets >= min_packets) break;
    }
    sample.wall = double(wall_ns() - start_wall);
    return sample;
}

// Runs `burst` exactly packets / kBurstSize times (packets must be a multiple of the burst).
template <typename Burst>
Sample run_exactly(uint64_t packets, Burst&& burst) {
    const uint64_t start_cpu = thread_cpu_ns();
    const uint64_t start_wall = wall_ns();
    Sample sample;
    while (sample.packets < packets) sample.packets += burst();
    sample.ns = double(thread_cpu_ns() - start_cpu);
    sample.wall = double(wall_ns() - start_wall);
    return sample;
}

// ---------------------------------------------------------------------------------------------
// Counters

uint64_t total_drops(const WorkerCounters& counters) {
    return std::accumulate(counters.drops.begin(), counters.drops.end(), uint64_t{0});
}

std::string drop_summary(const WorkerCounters& before, const WorkerCounters& after) {
    std::string text;
    for (size_t i = 0; i < kDropReasonCount; ++i) {
        uint64_t delta = after.drops[i] - before.drops[i];
        if (delta == 0) continue;
        text += (text.empty() ? "" : ", ") + std::string(drop_reason_name(static_cast<DropReason>(i))) + "=" +
                std::to_string(delta);
    }
    return text.empty() ? "none" : text;
}

// Every packet must have been forwarded: no drop, nothing punted, nothing lost.
void require_clean(const Harness& harness, const WorkerCounters& before, uint64_t lost_before,
                   const std::string& what) {
    const WorkerCounters& after = harness.context->counters;
    const uint64_t drops = total_drops(after) - total_drops(before);
    const uint64_t punted = after.punted - before.punted;
    const uint64_t lost = harness.lost - lost_before;
    if (drops != 0 || punted != 0 || lost != 0) {
        fail(what + ": " + std::to_string(drops) + " drops (" + drop_summary(before, after) + "), " +
             std::to_string(punted) + " punted, " + std::to_string(lost) +
             " packets missing from the TX buffer; the measurement would be wrong");
    }
}

// ---------------------------------------------------------------------------------------------
// Results

struct Result {
    std::string id;  // "new_flow", "established_large", ...
    std::string title;
    std::string baseline_title;            // what the paired baseline loop ran over
    std::string unit;                      // "Mpps" or "M flows/s"
    double target = 0;                     // 0: none
    std::vector<double> path_ns;           // per round, ns/packet (thread CPU time)
    std::vector<double> baseline_ns;       // per round, ns/packet (thread CPU time)
    std::vector<double> path_wall_ns;      // per round, ns/packet (wall clock)
    std::vector<double> baseline_wall_ns;  // per round, ns/packet (wall clock)
    uint64_t path_packets = 0;
    uint64_t baseline_packets = 0;

    void add_path(const Sample& sample) {
        path_ns.push_back(sample.ns_per_packet());
        path_wall_ns.push_back(sample.wall_per_packet());
        path_packets += sample.packets;
    }
    void add_baseline(const Sample& sample) {
        baseline_ns.push_back(sample.ns_per_packet());
        baseline_wall_ns.push_back(sample.wall_per_packet());
        baseline_packets += sample.packets;
    }
    double path_median() const { return median(path_ns); }
    double baseline_median() const { return median(baseline_ns); }
    double mpps() const { return 1000.0 / path_median(); }
    double baseline_mpps() const { return 1000.0 / baseline_median(); }
    double ratio() const { return baseline_median() / path_median(); }  // = path Mpps / baseline Mpps
};

struct MemoryReport {
    bool measured = false;
    bool rss_meaningful = true;  // false with --hugepages: hugetlb pages are not in VmRSS
    uint32_t flows = 0;
    uint32_t capacity = 0;
    size_t table_bytes = 0;
    size_t bytes_per_connection = 0;  // ConnTable's own figure: allocated bytes / capacity
    uint64_t rss_before = 0, rss_after_create = 0, rss_after_fill = 0;
};

struct Report {
    std::vector<Result> results;
    MemoryReport memory;
};

// ---------------------------------------------------------------------------------------------
// Phases

std::vector<uint32_t> sequential_order(uint32_t flows) {
    std::vector<uint32_t> order(flows);
    std::iota(order.begin(), order.end(), 0);
    return order;
}

std::vector<uint32_t> random_order(uint32_t flows, uint64_t seed) {
    std::vector<uint32_t> order = sequential_order(flows);
    std::mt19937_64 random(seed);
    std::shuffle(order.begin(), order.end(), random);
    return order;
}

uint64_t round_down_to_burst(uint64_t packets) {
    return packets / kBurstSize * kBurstSize;
}

// Puts every flow of `order` (rounded down to whole bursts) through the pipeline once.
void insert_flows(Harness& harness, const BigArray<Frame>& templates, const std::vector<uint32_t>& order,
                  uint64_t packets, const std::string& what) {
    const WorkerCounters before = harness.context->counters;
    const uint64_t lost_before = harness.lost;
    Stream stream{templates.data, order.data(), order.size(), 0};
    run_exactly(packets, [&] { return pipeline_burst(harness, stream); });
    require_clean(harness, before, lost_before, what);
    const uint64_t created = harness.context->counters.new_connections - before.new_connections;
    check(created == packets,
          what + ": " + std::to_string(created) + " connections created for " + std::to_string(packets) + " new flows");
}

// Established flows: alternate baseline and path rounds over the same (random) order.
Result measure_established(Harness& harness, const Options& options, const BigArray<Frame>& templates,
                           const std::vector<uint32_t>& order, const std::string& id, const std::string& title,
                           const std::string& baseline_title) {
    Result result;
    result.id = id;
    result.title = title;
    result.baseline_title = baseline_title;
    result.unit = "Mpps";
    result.target = kEstablishedTargetMpps;
    const double round_seconds = options.seconds / options.rounds;
    Stream baseline_stream{templates.data, order.data(), order.size(), 0};
    Stream path_stream{templates.data, order.data(), order.size(), 0};
    const WorkerCounters before = harness.context->counters;
    const uint64_t lost_before = harness.lost;
    // One untimed pass of each first, so neither side starts colder than the other.
    const uint64_t one_pass = round_down_to_burst(std::max<size_t>(order.size(), kBurstSize));
    run_exactly(one_pass, [&] { return baseline_burst(harness, baseline_stream); });
    run_exactly(one_pass, [&] { return pipeline_burst(harness, path_stream); });
    for (uint32_t round = 0; round < options.rounds; ++round) {
        auto do_baseline = [&] {
            result.add_baseline(run_for(round_seconds, 0, [&] { return baseline_burst(harness, baseline_stream); }));
        };
        auto do_path = [&] {
            result.add_path(run_for(round_seconds, 0, [&] { return pipeline_burst(harness, path_stream); }));
        };
        if (round % 2 == 0) {
            do_baseline();
            do_path();
        } else {
            do_path();
            do_baseline();
        }
    }
    require_clean(harness, before, lost_before, title);
    const WorkerCounters& after = harness.context->counters;
    check(after.new_connections == before.new_connections,
          title + ": " + std::to_string(after.new_connections - before.new_connections) +
              " new connections in the established phase (entries lost?)");
    return result;
}

ConnTable* create_table(uint32_t capacity, uint32_t seed) {
    ConnTable* table = ConnTable::create(capacity, seed, static_cast<int>(rte_socket_id()));
    if (table == nullptr) fail("cannot allocate a connection table of " + std::to_string(capacity) + " entries");
    return table;
}

AffinityTable* create_affinity_table(uint32_t seed) {
    AffinityTable* table =
        AffinityTable::create(AffinityTable::kDefaultCapacity, seed, static_cast<int>(rte_socket_id()));
    if (table == nullptr) fail("cannot allocate the affinity table");
    return table;
}

// Checks one translated packet byte by byte: the endpoint's MAC and address, the SNAT (or
// client) source, a valid checksum.
void verify_translation(Harness& harness, const BigArray<Frame>& templates, uint32_t flow, const Snapshot& snapshot,
                        bool dnat) {
    std::vector<uint32_t> order{flow};
    Stream stream{templates.data, order.data(), 1, 0};
    rte_mbuf* m = harness.ring.mbufs[harness.ring.next];
    fill_burst(stream, harness.ring, &m, 1);
    WorkerContext& context = *harness.context;
    process_burst(context, snapshot, &m, 1, false);
    check(context.tx[0].count == 1 && context.tx[0].packets[0] == m, "check packet was not forwarded");
    context.tx[0].count = 0;
    vt::Bytes out = vt::to_bytes(m);
    check(vt::all_checksums_ok(out), "translated packet has a bad checksum");
    const rte_ipv4_hdr ip = vt::ipv4_of(out);
    const rte_ether_hdr ethernet = vt::ethernet_of(out);
    const uint32_t destination = rte_be_to_cpu_32(ip.dst_addr);
    check(destination >= endpoint_address(0) && destination < endpoint_address(kEndpointAddressPool),
          "translated packet not sent to an endpoint: " + dotted(destination));
    const uint32_t pool_index = destination - endpoint_address(0);
    check(vt::same_mac(ethernet.dst_addr, endpoint_mac(pool_index)), "wrong destination MAC for the endpoint");
    check(vt::same_mac(ethernet.src_addr, kPortMac), "wrong source MAC");
    const uint32_t source = rte_be_to_cpu_32(ip.src_addr);
    const uint32_t expected_source = dnat ? client_address(flow) : (198u << 24 | 18u << 16 | 2u);
    check(source == expected_source, "unexpected translated source " + dotted(source));
    check(vt::tcp_of(out).dst_port == rte_cpu_to_be_16(kTargetPort), "unexpected target port");
}

// ---------------------------------------------------------------------------------------------
// Output

std::string verdict(const Result& result) {
    if (result.target <= 0) return "";
    return result.mpps() >= result.target ? "PASS" : "BELOW";
}

void print_table(const Options& options, const Report& report, const std::string& setup) {
    std::printf("%s\n", setup.c_str());
    constexpr int kTitle = 52;
    std::printf("%-*s %8s %7s %11s %9s %6s %8s  %s\n", kTitle, "path (1 core)", "ns/pkt", "Mpps", "base ns/pkt",
                "base Mpps", "ratio", "+ns/pkt", "target");
    std::printf("%s\n", std::string(kTitle + 8 + 7 + 11 + 9 + 6 + 8 + 7 + 26, '-').c_str());
    for (const Result& result : report.results) {
        std::string target;
        if (result.target > 0) target = ">= " + fixed(result.target, 0) + " " + result.unit + ": " + verdict(result);
        std::printf("%-*s %8.1f %7.2f %11.1f %9.2f %6.3f %8.1f  %s\n", kTitle, result.title.c_str(),
                    result.path_median(), result.mpps(), result.baseline_median(), result.baseline_mpps(),
                    result.ratio(), result.path_median() - result.baseline_median(), target.c_str());
    }
    std::printf(
        "\nratio = baseline ns/pkt / path ns/pkt = path Mpps / baseline Mpps (1 = as fast as the minimal "
        "forwarder loop);\n+ns/pkt = path - baseline: what the load balancer adds per packet. Medians of "
        "%u rounds of thread CPU time.\nPer round, ns/pkt (path | paired baseline), and wall-clock medians "
        "(include time the shared CPU spent elsewhere):\n",
        options.rounds);
    for (const Result& result : report.results) {
        if (result.id.rfind("baseline_", 0) == 0) continue;
        std::string path, base;
        for (size_t i = 0; i < result.path_ns.size() && i < 10; ++i) path += fixed(result.path_ns[i], 1) + " ";
        for (size_t i = 0; i < result.baseline_ns.size() && i < 10; ++i) base += fixed(result.baseline_ns[i], 1) + " ";
        if (result.path_ns.size() > 10) {
            path += "... ";
            base += "... ";
        }
        std::printf("  %-18s [ %s| %s]  wall %.1f | %.1f\n", result.id.c_str(), path.c_str(), base.c_str(),
                    median(result.path_wall_ns), median(result.baseline_wall_ns));
    }
    const MemoryReport& memory = report.memory;
    if (memory.measured) {
        const double rss_delta = double(memory.rss_after_fill - memory.rss_before);
        std::printf("\nmemory, connection table of capacity %s holding %s flows:\n", thousands(memory.capacity).c_str(),
                    thousands(memory.flows).c_str());
        std::printf("  ConnTable accounting: %s bytes = %zu bytes per connection of capacity, %.1f per tracked flow\n",
                    thousands(memory.table_bytes).c_str(), memory.bytes_per_connection,
                    double(memory.table_bytes) / memory.flows);
        if (memory.rss_meaningful) {
            std::printf(
                "  process VmRSS: +%.1f MiB at create, +%.1f MiB while filling: %.1f bytes per tracked flow "
                "(%.1f per connection of capacity)\n",
                double(memory.rss_after_create - memory.rss_before) / (1 << 20),
                double(memory.rss_after_fill - memory.rss_after_create) / (1 << 20), rss_delta / memory.flows,
                rss_delta / memory.capacity);
        } else {
            std::printf(
                "  process VmRSS: not measured (hugetlb pages, reserved at EAL start, are not counted in "
                "VmRSS)\n");
        }
    }
    std::printf(
        "\nevery measured packet was forwarded (0 drops, 0 punted, 0 missing from TX, checked per phase); "
        "one translated packet per table verified (endpoint MAC/IP/port, source, checksums)\n");
}

std::string json_string(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

void print_json(const Options& options, const Report& report, uint32_t capacity, uint32_t endpoint_addresses) {
    std::ostringstream json;
    json << "{\n  \"options\": {\"flows\": " << options.flows << ", \"vips\": " << options.vips
         << ", \"endpoints_per_vip\": " << options.endpoints_per_vip
         << ", \"endpoint_addresses\": " << endpoint_addresses << ", \"seconds\": " << options.seconds
         << ", \"nat\": " << json_string(options.dnat ? "dnat" : "fullnat") << ", \"mbufs\": " << options.mbufs
         << ", \"rounds\": " << options.rounds << ", \"small_flows\": " << options.small_flows
         << ", \"burst\": " << kBurstSize << ", \"frame_bytes\": " << kFrameLength + 4
         << ", \"conntrack_capacity\": " << capacity << ", \"hugepages\": " << (options.hugepages ? "true" : "false")
         << ", \"software_ip_checksum\": " << (options.software_ip_checksum ? "true" : "false")
         << ", \"affinity\": " << (options.affinity ? "true" : "false") << "},\n";
    json << "  \"results\": [";
    for (size_t i = 0; i < report.results.size(); ++i) {
        const Result& r = report.results[i];
        json << (i ? "," : "") << "\n    {\"id\": " << json_string(r.id) << ", \"title\": " << json_string(r.title)
             << ", \"ns_per_packet\": " << fixed(r.path_median(), 2) << ", \"mpps\": " << fixed(r.mpps(), 3)
             << ", \"baseline_ns_per_packet\": " << fixed(r.baseline_median(), 2)
             << ", \"baseline_mpps\": " << fixed(r.baseline_mpps(), 3) << ", \"ratio\": " << fixed(r.ratio(), 4)
             << ", \"added_ns_per_packet\": " << fixed(r.path_median() - r.baseline_median(), 2)
             << ", \"wall_ns_per_packet\": " << fixed(median(r.path_wall_ns), 2)
             << ", \"baseline_wall_ns_per_packet\": " << fixed(median(r.baseline_wall_ns), 2);
        if (r.target > 0) {
            json << ", \"target\": " << r.target << ", \"target_unit\": " << json_string(r.unit)
                 << ", \"pass\": " << (r.mpps() >= r.target ? "true" : "false");
        }
        json << ", \"path_packets\": " << r.path_packets << ", \"baseline_packets\": " << r.baseline_packets
             << ", \"rounds_ns_per_packet\": [";
        for (size_t k = 0; k < r.path_ns.size(); ++k) json << (k ? ", " : "") << fixed(r.path_ns[k], 2);
        json << "], \"baseline_rounds_ns_per_packet\": [";
        for (size_t k = 0; k < r.baseline_ns.size(); ++k) json << (k ? ", " : "") << fixed(r.baseline_ns[k], 2);
        json << "]}";
    }
    json << "\n  ]";
    const MemoryReport& memory = report.memory;
    if (memory.measured) {
        json << ",\n  \"memory\": {\"flows\": " << memory.flows << ", \"capacity\": " << memory.capacity
             << ", \"table_bytes\": " << memory.table_bytes
             << ", \"bytes_per_connection_capacity\": " << memory.bytes_per_connection
             << ", \"table_bytes_per_tracked_flow\": " << fixed(double(memory.table_bytes) / memory.flows, 2)
             << ", \"rss_before\": " << memory.rss_before << ", \"rss_after_create\": " << memory.rss_after_create
             << ", \"rss_after_fill\": " << memory.rss_after_fill << ", \"rss_bytes_per_tracked_flow\": "
             << (memory.rss_meaningful ? fixed(double(memory.rss_after_fill - memory.rss_before) / memory.flows, 2)
                                       : std::string("null"))
             << "}";
    }
    json << ",\n  \"clean\": true\n}\n";
    std::fputs(json.str().c_str(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse_options(argc, argv);
    // Conntrack capacity: 1.25 x the flows (load 0.8 at the end of a fill), at least the minimum.
    auto capacity_for = [](uint32_t flows) {
        return std::max<uint32_t>(1024, static_cast<uint32_t>(std::ceil(flows * 1.25)));
    };
    const uint32_t capacity = capacity_for(options.flows);
    const uint32_t small_capacity = capacity_for(options.small_flows);
    auto progress = [&](const std::string& text) {
        std::fprintf(stderr, "[bench] %s\n", text.c_str());
        std::fflush(stderr);
    };

    // EAL: one lcore, no PCI, nothing shared. Memory: the connection table (at most one large
    // one lives at a time) plus mbufs and the snapshot's tables.
    const uint64_t table_mib = (uint64_t{capacity} * 128) >> 20;
    const uint64_t mbuf_mib = (uint64_t{options.mbufs} * 2560) >> 20;
    uint64_t memory_mib = 256 + table_mib + mbuf_mib;
    if (!options.hugepages) memory_mib = std::max<uint64_t>(memory_mib, 2048);
    std::vector<std::string> eal_args = {argv[0]};
    if (options.hugepages) {
        eal_args.insert(eal_args.end(), {"--in-memory"});
    } else {
        eal_args.insert(eal_args.end(), {"--no-huge", "--no-shconf"});
    }
    eal_args.insert(eal_args.end(),
                    {"-m", std::to_string(memory_mib), "--no-pci", "--no-telemetry", "-l", "0", "--log-level=error"});
    std::vector<char*> eal_argv;
    for (auto& arg : eal_args) eal_argv.push_back(arg.data());
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        fail(std::string("rte_eal_init failed: ") + rte_strerror(rte_errno));
    }
    g_rx_ol_flags = options.software_ip_checksum ? 0 : RTE_MBUF_F_RX_IP_CKSUM_GOOD;
    std::string eal_line;
    for (size_t i = 1; i < eal_args.size(); ++i) eal_line += (i > 1 ? " " : "") + eal_args[i];

    // Configuration -> snapshot; static neighbors -> neighbor table.
    const uint32_t pool = endpoint_pool_size(options.vips, options.endpoints_per_vip);
    progress("building the configuration: " + std::to_string(options.vips) + " VIPs x " +
             std::to_string(options.endpoints_per_vip) + " endpoints (" + std::to_string(pool) +
             " endpoint addresses)");
    const config::Config big_config =
        load_config(make_config_text(options.vips, options.endpoints_per_vip, capacity, options.dnat), "bench-big",
                    options.affinity);
    // Holds the shared route table (DPDK memory): reset before the EAL goes.
    auto builder = std::make_unique<SnapshotBuilder>(1, std::vector<PortIdentity>{PortIdentity{0, 0, kPortMac, 0}});
    std::unique_ptr<Snapshot> big_snapshot;
    try {
        big_snapshot = builder->build(big_config);
    } catch (const std::exception& error) {
        fail(std::string("snapshot build failed: ") + error.what());
    }
    auto neighbors = std::make_unique<NeighborTable>();
    for (const auto& neighbor : big_config.neighbors) {
        rte_ether_addr mac;
        std::copy(neighbor.mac.begin(), neighbor.mac.end(), mac.addr_bytes);
        check(neighbors->learn(to_be(neighbor.address), mac, true) != NeighborTable::LearnResult::Full,
              "neighbor table full");
    }

    // The worker.
    auto context = std::make_unique<WorkerContext>();
    context->worker_index = 0;
    context->worker_count = 1;
    context->port_count = 1;
    context->port_ids[0] = 0;
    context->neighbors = neighbors.get();
    context->punt_ring = rte_ring_create("bench_punt", 1024, static_cast<int>(rte_socket_id()), RING_F_SC_DEQ);
    check(context->punt_ring != nullptr, "cannot create the punt ring");
    context->endpoint_counters = static_cast<EndpointCounters*>(
        rte_zmalloc_socket("bench_endpoint_counters", sizeof(EndpointCounters) * SnapshotBuilder::kMaxEndpointSlots,
                           RTE_CACHE_LINE_SIZE, static_cast<int>(rte_socket_id())));
    check(context->endpoint_counters != nullptr, "cannot allocate endpoint counters");
    context->endpoint_handshakes = static_cast<EndpointHandshakes*>(
        rte_zmalloc_socket("bench_endpoint_handshakes", sizeof(EndpointHandshakes) * SnapshotBuilder::kMaxEndpointSlots,
                           RTE_CACHE_LINE_SIZE, SOCKET_ID_ANY));
    check(context->endpoint_handshakes != nullptr, "cannot allocate endpoint handshake histograms");
    context->endpoint_counter_slots = SnapshotBuilder::kMaxEndpointSlots;
    context->affinity = create_affinity_table(static_cast<uint32_t>(big_config.dataplane.hash_seed));

    Harness harness;
    harness.context = context.get();
    harness.snapshot = big_snapshot.get();
    harness.cycles_per_ms = std::max<uint64_t>(rte_get_tsc_hz() / 1000, 1);
    rte_mempool* mempool = rte_pktmbuf_pool_create("bench_pool", options.mbufs + 1, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                                   static_cast<int>(rte_socket_id()));
    check(mempool != nullptr, std::string("cannot create the mbuf pool: ") + rte_strerror(rte_errno));
    harness.ring.mbufs.resize(options.mbufs);
    check(rte_pktmbuf_alloc_bulk(mempool, harness.ring.mbufs.data(), options.mbufs) == 0, "cannot allocate mbufs");
    for (rte_mbuf* m : harness.ring.mbufs) m->port = 0;

    const uint32_t seed = static_cast<uint32_t>(big_config.dataplane.hash_seed);
    const uint64_t flow_packets = round_down_to_burst(options.flows);
    Report report;

    // Phase c first: its table is the first large allocation, so the RSS delta is its own.
    if (runs(options, 'c') || runs(options, 'a')) {
        progress("building " + std::to_string(options.flows) + " established-flow templates");
        BigArray<Frame> ack_templates =
            build_templates(options.flows, options.vips, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG);
        const std::vector<uint32_t> order = random_order(options.flows, options.seed);
        MemoryReport& memory = report.memory;
        memory.rss_before = rss_bytes();
        ConnTable* table = create_table(capacity, seed);
        memory.rss_after_create = rss_bytes();
        context->connections = table;
        progress("inserting " + std::to_string(flow_packets) + " flows (one SYN each)");
        {
            BigArray<Frame> syn_templates = build_templates(options.flows, options.vips, RTE_TCP_SYN_FLAG);
            insert_flows(harness, syn_templates, order, flow_packets, "filling the table");
        }
        memory.rss_after_fill = rss_bytes();
        memory.measured = true;
        memory.rss_meaningful = !options.hugepages;
        memory.flows = static_cast<uint32_t>(flow_packets);
        memory.capacity = capacity;
        memory.table_bytes = table->memory_bytes();
        memory.bytes_per_connection = table->bytes_per_connection();
        check(table->size() == flow_packets, "table holds " + std::to_string(table->size()) + " flows");
        verify_translation(harness, ack_templates, order[0], *big_snapshot, options.dnat);
        progress("measuring the established path, " + std::to_string(flow_packets) + " flows in random order");
        Result established = measure_established(
            harness, options, ack_templates, order, "established_large",
            "c) established, " + thousands(flow_packets) + " flows, " + thousands(options.vips) + " VIPs, random",
            "a) baseline, " + thousands(flow_packets) + " flows, random");
        report.results.push_back(established);
        context->connections = nullptr;
        ConnTable::destroy(table);
    }

    // Phase b: every packet a SYN of a flow the (fresh) table has never seen.
    if (runs(options, 'b')) {
        progress("building " + std::to_string(options.flows) + " SYN templates");
        BigArray<Frame> syn_templates = build_templates(options.flows, options.vips, RTE_TCP_SYN_FLAG);
        const std::vector<uint32_t> order = sequential_order(options.flows);
        Result result;
        result.id = "new_flow";
        result.title = "b) new flows (SYN), fresh table, " + thousands(flow_packets) + "/run";
        result.baseline_title = "a) baseline, " + thousands(flow_packets) + " flows, sequential";
        result.unit = "M flows/s";
        result.target = kNewFlowTargetMfps;
        double path_seconds = 0;
        bool verified = false;
        for (uint32_t run = 0; run < 50 && (run < 3 || path_seconds < options.seconds); ++run) {
            ConnTable* table = create_table(capacity, seed);
            context->connections = table;
            AffinityTable::destroy(context->affinity);  // fresh as well: first connections of every client
            context->affinity = create_affinity_table(seed);
            Stream baseline_stream{syn_templates.data, order.data(), order.size(), 0};
            Stream path_stream{syn_templates.data, order.data(), order.size(), 0};
            const WorkerCounters before = context->counters;
            const uint64_t lost_before = harness.lost;
            Sample baseline = run_exactly(flow_packets, [&] { return baseline_burst(harness, baseline_stream); });
            Sample path = run_exactly(flow_packets, [&] { return pipeline_burst(harness, path_stream); });
            require_clean(harness, before, lost_before, result.title);
            const uint64_t created = context->counters.new_connections - before.new_connections;
            check(created == flow_packets && table->size() == flow_packets,
                  "new-flow run created " + std::to_string(created) + " connections for " +
                      std::to_string(flow_packets) + " SYNs");
            result.add_baseline(baseline);
            result.add_path(path);
            path_seconds += path.ns / 1e9;
            if (!verified) {
                verify_translation(harness, syn_templates, order[0], *big_snapshot, options.dnat);
                verified = true;
            }
            context->connections = nullptr;
            ConnTable::destroy(table);
            progress("new-flow run " + std::to_string(run + 1) + ": " + fixed(path.ns_per_packet(), 1) +
                     " ns/flow (baseline " + fixed(baseline.ns_per_packet(), 1) + ")");
        }
        report.results.insert(report.results.begin(), result);
    }

    // Phase d: one VIP, a few flows: everything stays in cache.
    if (runs(options, 'd')) {
        const config::Config small_config =
            load_config(make_config_text(1, options.endpoints_per_vip, small_capacity, options.dnat), "bench-small",
                        options.affinity);
        big_snapshot.reset();  // its rte_hash names are reused by the next build
        std::unique_ptr<Snapshot> small_snapshot;
        try {
            small_snapshot = builder->build(small_config);
        } catch (const std::exception& error) {
            fail(std::string("snapshot build failed: ") + error.what());
        }
        harness.snapshot = small_snapshot.get();
        BigArray<Frame> templates = build_templates(options.small_flows, 1, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG);
        BigArray<Frame> syn_templates = build_templates(options.small_flows, 1, RTE_TCP_SYN_FLAG);
        const std::vector<uint32_t> order = random_order(options.small_flows, options.seed + 1);
        ConnTable* table = create_table(small_capacity, seed);
        context->connections = table;
        // Whole bursts: pad the first pass with a repeat of the first flows (hits, not new flows).
        const uint64_t first_pass = round_down_to_burst(options.small_flows);
        insert_flows(harness, syn_templates, order, first_pass, "filling the small table");
        if (first_pass < options.small_flows) {
            // The remaining flows (fewer than a burst): create them with one padded burst.
            std::vector<uint32_t> rest(order.begin() + static_cast<long>(first_pass), order.end());
            while (rest.size() < kBurstSize) rest.push_back(rest[rest.size() % (options.small_flows - first_pass)]);
            Stream stream{syn_templates.data, rest.data(), rest.size(), 0};
            const WorkerCounters before = context->counters;
            const uint64_t lost_before = harness.lost;
            pipeline_burst(harness, stream);
            require_clean(harness, before, lost_before, "filling the small table");
        }
        check(table->size() == options.small_flows, "small table holds " + std::to_string(table->size()) + " flows");
        verify_translation(harness, templates, order[0], *small_snapshot, options.dnat);
        progress("measuring the established path, 1 VIP, " + std::to_string(options.small_flows) + " flows");
        report.results.push_back(
            measure_established(harness, options, templates, order, "established_small",
                                "d) established, " + thousands(options.small_flows) + " flows, 1 VIP, random",
                                "a) baseline, " + thousands(options.small_flows) + " flows, random"));
        context->connections = nullptr;
        ConnTable::destroy(table);
        harness.snapshot = nullptr;
    }

    // a) is the baseline column of every row; print it as rows of its own too.
    if (runs(options, 'a')) {
        std::vector<Result> baselines;
        for (const Result& r : report.results) {
            Result b = r;
            b.id = "baseline_" + r.id;
            b.title = r.baseline_title;
            b.path_ns = r.baseline_ns;
            b.path_wall_ns = r.baseline_wall_ns;
            b.path_packets = r.baseline_packets;
            b.target = 0;
            b.unit = "Mpps";
            baselines.push_back(b);
        }
        report.results.insert(report.results.begin(), baselines.begin(), baselines.end());
    }
    // Drop the rows of phases that were only run to provide a baseline.
    if (!runs(options, 'c')) {
        std::erase_if(report.results, [](const Result& r) { return r.id == "established_large"; });
    }

    std::ostringstream setup;
    setup << "vipgate_bench: process_burst on 1 core (main lcore as worker 0 of 1), burst " << kBurstSize << ", "
          << kFrameLength + 4 << "-byte TCP frames, " << (options.dnat ? "DNAT" : "full-NAT") << "\n"
          << "  " << options.vips << " VIPs x " << options.endpoints_per_vip << " endpoints (" << pool
          << " endpoint addresses, static neighbors), " << options.flows << " flows, conntrack capacity " << capacity
          << ", " << options.mbufs << " mbufs recycled\n"
          << "  " << options.seconds << " s measured per phase in " << options.rounds
          << " rounds alternating with the baseline (same template order), medians; IP checksum "
          << (options.software_ip_checksum ? "verified in software" : "offloaded (RX_IP_CKSUM_GOOD)")
          << (options.affinity ? "; every service with sessionAffinity ClientIP" : "") << "\n"
          << "  EAL: " << eal_line << "; TSC " << rte_get_tsc_hz() / 1000000 << " MHz\n";
    if (options.json) {
        print_json(options, report, capacity, pool);
    } else {
        print_table(options, report, setup.str());
    }
    std::fprintf(stderr, "[bench] baseline sink %llu\n", static_cast<unsigned long long>(harness.baseline_sink % 7));
    // Everything living in DPDK memory goes before the EAL does.
    big_snapshot.reset();
    builder.reset();
    rte_pktmbuf_free_bulk(harness.ring.mbufs.data(), static_cast<unsigned>(harness.ring.mbufs.size()));
    rte_mempool_free(mempool);
    rte_free(context->endpoint_counters);
    rte_free(context->endpoint_handshakes);
    AffinityTable::destroy(context->affinity);
    rte_ring_free(context->punt_ring);
    rte_eal_cleanup();
    return 0;
}
