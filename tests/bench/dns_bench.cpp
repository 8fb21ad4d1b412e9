// DNS answers per second of one worker, in-process: the pipeline benchmark's method
// (pipeline_bench.cpp) for cluster DNS. Pre-built mbufs are refilled from query templates and
// run through process_burst on a snapshot whose zone holds 10,000 services (A, SRV, PTR); the
// answers are left in the TX buffer (not sent). Two streams: hits (A of a random service) and
// NXDOMAIN (the search-path misses a kubelet resolv.conf causes). Time is the thread's CPU time.
// Every answer's rcode is checked through the counters after each run.
//
//     build/tests/bench/dns_bench [seconds per case, default 2]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "config/config.h"
#include "control/dns_text.h"
#include "control/dns_zone_builder.h"
#include "control/snapshot_builder.h"
#include "dataplane/dns_zone_layout.h"
#include "dataplane/pipeline.h"
#include "tests/support/packet_builder.h"

namespace vt = vipgate::test;
using namespace vipgate;

namespace {

constexpr uint32_t kServices = 10'000;
constexpr uint32_t kNamespaces = 100;
constexpr uint32_t kTemplates = 4096;
constexpr uint32_t kMbufs = 4096;
constexpr size_t kTemplateBytes = 160;
constexpr rte_ether_addr kPortMac = vt::mac("02:00:00:00:00:01");
constexpr rte_ether_addr kRouterMac = vt::mac("02:00:00:00:00:fe");
constexpr uint32_t kDnsAddr = vt::ipv4("198.18.0.10");

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "dns_bench: %s\n", message.c_str());
    std::exit(1);
}

uint64_t thread_cpu_ns() {
    timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return uint64_t(now.tv_sec) * 1'000'000'000u + uint64_t(now.tv_nsec);
}

std::string service_name(uint32_t i) {
    return "svc-" + std::to_string(i) + ".ns-" + std::to_string(i % kNamespaces) + ".svc.cluster.local";
}

struct Template {
    uint8_t bytes[kTemplateBytes];
    uint16_t length;
};

std::vector<Template> templates_for(bool hits, std::mt19937& random) {
    std::vector<Template> out(kTemplates);
    for (uint32_t t = 0; t < kTemplates; ++t) {
        const uint32_t service = random() % kServices;
        // A miss as the search path makes them: the name with "<ns>.svc.cluster.local" appended.
        std::string name = service_name(service);
        if (!hits) name += ".ns-" + std::to_string(service % kNamespaces) + ".svc.cluster.local";
        const vt::Bytes frame = vt::udp_frame(
            {.src_port = static_cast<uint16_t>(1024 + t),
             .dst_port = 53,
             .payload = make_dns_query({.name = name, .id = static_cast<uint16_t>(t), .edns_size = 1232})},
            {.src = vt::ipv4("198.18.1.1") + (t << 24), .dst = kDnsAddr}, {.src = kRouterMac, .dst = kPortMac});
        if (frame.size() > kTemplateBytes) fail("template too long");
        std::memcpy(out[t].bytes, frame.data(), frame.size());
        out[t].length = static_cast<uint16_t>(frame.size());
    }
    return out;
}

double measure(WorkerContext& context, const Snapshot& snapshot, const std::vector<rte_mbuf*>& mbufs,
               const std::vector<Template>& templates, double seconds, uint64_t& answers) {
    const uint64_t start = thread_cpu_ns();
    uint64_t packets = 0;
    uint32_t next_mbuf = 0;
    uint32_t next_template = 0;
    const uint64_t cycles_per_ms = rte_get_tsc_hz() / 1000;
    for (;;) {
        for (int round = 0; round < 64; ++round) {
            rte_mbuf* burst[kBurstSize];
            for (uint16_t i = 0; i < kBurstSize; ++i) {
                rte_mbuf* m = mbufs[next_mbuf];
                next_mbuf = (next_mbuf + 1) % kMbufs;
                const Template& frame = templates[next_template];
                next_template = (next_template + 1) % kTemplates;
                m->data_off = RTE_PKTMBUF_HEADROOM;
                m->data_len = frame.length;
                m->pkt_len = frame.length;
                m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
                std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frame.bytes, kTemplateBytes);
                burst[i] = m;
            }
            context.now_ms = static_cast<uint32_t>(rte_get_tsc_cycles() / cycles_per_ms);
            process_burst(context, snapshot, burst, kBurstSize, false);
            answers += context.tx[0].count;
            context.tx[0].count = 0;  // "transmitted": the mbufs stay ours
            packets += kBurstSize;
        }
        const double elapsed = double(thread_cpu_ns() - start);
        if (elapsed >= seconds * 1e9) return double(packets) / (elapsed / 1e9);
    }
}

}  // namespace

int main(int argc, char** argv) {
    const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
    std::vector<std::string> eal_args = {argv[0],    "--no-huge",      "--no-shconf", "-m", "512",
                                         "--no-pci", "--no-telemetry", "-l",          "0",  "--log-level=error"};
    std::vector<char*> eal_argv;
    for (auto& arg : eal_args) eal_argv.push_back(arg.data());
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) fail(rte_strerror(rte_errno));

    const std::string toml =
        "[dataplane]\nworker_lcores = [1]\n\n[[ports]]\nname = \"p0\"\ndevice = \"net_null0\"\n"
        "mac = \"02:00:00:00:00:01\"\naddresses = [\"198.18.0.1/16\"]\n";
    config::LoadResult loaded = config::load_config_string(toml, "dns-bench");
    if (!loaded.config) fail("configuration rejected");
    SnapshotBuilder builder(1, {PortIdentity{0, 0, kPortMac, 0}});
    std::unique_ptr<Snapshot> snapshot = builder.build(*loaded.config);

    DnsServerParameters parameters;
    parameters.addresses = {kDnsAddr};
    DnsZoneBuilder zone_builder("cluster.local", 5, parameters);
    for (uint32_t i = 0; i < kServices; ++i) {
        const uint32_t address = (198u << 24 | 18u << 16 | 128u << 8) + i;
        zone_builder.add_a(service_name(i), address);
        zone_builder.add_srv("_http._tcp." + service_name(i), 0, 100, 80, service_name(i));
        const std::string reverse = std::to_string(address & 0xFF) + "." + std::to_string(address >> 8 & 0xFF) + "." +
                                    std::to_string(address >> 16 & 0xFF) + "." + std::to_string(address >> 24) +
                                    ".in-addr.arpa";
        zone_builder.add_ptr(reverse, service_name(i));
    }
    snapshot->dns = zone_builder.build();

    auto context = std::make_unique<WorkerContext>();
    context->port_count = 1;
    rte_mempool* pool =
        rte_pktmbuf_pool_create("dns_bench", kMbufs + 1, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (pool == nullptr) fail("cannot create the mbuf pool");
    std::vector<rte_mbuf*> mbufs(kMbufs);
    if (rte_pktmbuf_alloc_bulk(pool, mbufs.data(), kMbufs) != 0) fail("cannot allocate mbufs");

    std::mt19937 random(42);
    std::printf("DNS answers per second, one worker, zone of %u services (%zu names), %.1f s per case\n", kServices,
                snapshot->dns->names.size(), seconds);
    for (bool hits : {true, false}) {
        const std::vector<Template> templates = templates_for(hits, random);
        const WorkerCounters before = context->counters;
        uint64_t answers = 0;
        const double rate = measure(*context, *snapshot, mbufs, templates, seconds, answers);
        const WorkerCounters& after = context->counters;
        const uint64_t expected =
            hits ? after.dns_noerror - before.dns_noerror : after.dns_nxdomain - before.dns_nxdomain;
        if (expected != answers || answers == 0) fail("answers of the wrong rcode (or dropped)");
        std::printf("  %-9s %6.2f M answers/s  (%.1f ns per answer)\n", hits ? "hit (A)" : "NXDOMAIN", rate / 1e6,
                    1e9 / rate);
    }
    return 0;
}
