#include "pktgen/trial.h"

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "dataplane/packet_pool.h"
#include "dataplane/packet_responses.h"
#include "pktgen/backend_responder.h"

namespace vipgen {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint16_t kDescriptors = 1024;
constexpr unsigned kPoolCache = 256;
constexpr auto kLinkTimeout = std::chrono::seconds(15);
constexpr auto kGatewayTimeout = std::chrono::seconds(5);
constexpr auto kDrainTime = std::chrono::milliseconds(100);
constexpr unsigned kOpenPasses = 4;

std::runtime_error port_error(const std::string& device, const std::string& what) {
    return std::runtime_error("port " + device + ": " + what);
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

int lcore_main(void* argument) {
    static_cast<GeneratorLcore*>(argument)->run();
    return 0;
}

}  // namespace

// Under a flood the gateway resets legitimate connections whose half-open entry was evicted
// before the client's ACK (full-NAT): a measured outcome (legit_completed), not a check failure.
uint64_t Measurement::check_failures() const noexcept {
    uint64_t failures = 0;
    for (size_t i = 1; i < counters.verdicts.size(); ++i) {
        if (!(flood && static_cast<Verdict>(i) == Verdict::Reset)) failures += counters.verdicts[i];
    }
    return failures;
}

Session::Session(const Options& options, const Targets& targets)
    : options_(options),
      targets_(targets),
      // A DNS-only gateway has no VIP ports; DNS mode does not use the flow space's targets.
      flows_(options.clients, std::max<uint32_t>(1, static_cast<uint32_t>(targets.targets.size())),
             options.pattern.seed),
      flows6_(options.clients6, std::max<uint32_t>(1, static_cast<uint32_t>(targets.targets.size())),
              options.pattern.seed),
      memory_(options.pattern.flows),
      control_(options.lcores) {
    if (targets.endpoints.size() >= FlowMemory::kMaxEndpoints) {
        throw std::runtime_error("too many endpoints to track (" + std::to_string(targets.endpoints.size()) + ")");
    }
    if (rte_lcore_count() < options.lcores + 1) {
        throw std::runtime_error("the EAL has " + std::to_string(rte_lcore_count()) + " lcores but vipgen needs " +
                                 std::to_string(options.lcores + 1) +
                                 " (a main lcore and one per generator lcore): add e.g. --lcores 0@0,1@0 to --eal");
    }
    std::vector<DnsName> dns_names;
    if (!options.dns_names_file.empty()) dns_names = load_dns_names(options.dns_names_file);
    start_port();
    if (options.gateway_mac) {
        std::copy(options.gateway_mac->begin(), options.gateway_mac->end(), gateway_mac_.addr_bytes);
    }
    if (options.mode == CheckMode::Gateway) resolve_gateway();
    factory_ = std::make_unique<PacketFactory>(targets, flows_, flows6_, options.sizes, our_mac_, gateway_mac_);
    checker_ = std::make_unique<Checker>(options.mode, targets, flows_, flows6_, memory_);
    if (!options.dns_names_file.empty()) {
        dns_ = std::make_unique<DnsMode>(std::move(dns_names), options.dns_server, options.clients,
                                         options.pattern.flows, our_mac_, gateway_mac_);
    }
    launch_lcores();
}

Session::~Session() {
    if (lcores_running_) {
        control_.post(Command{Phase::Exit});
        rte_eal_mp_wait_lcore();
    }
    rte_eth_dev_stop(port_id_);
    rte_eth_dev_close(port_id_);
    rte_mempool_free(pool_);
}

void Session::start_port() {
    const std::string& device = options_.port;
    const std::string name = device.substr(0, device.find(','));
    if (rte_eth_dev_get_port_by_name(name.c_str(), &port_id_) != 0) {
        const int result = rte_dev_probe(device.c_str());
        if (result != 0) throw port_error(device, std::string("cannot probe the device: ") + rte_strerror(-result));
        if (rte_eth_dev_get_port_by_name(name.c_str(), &port_id_) != 0) {
            throw port_error(device, "probed, but no ethdev port named '" + name + "' appeared");
        }
    }
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(port_id_, &info) != 0) throw port_error(device, "cannot read device info");
    const uint16_t queues = static_cast<uint16_t>(options_.lcores);
    if (info.max_rx_queues < queues || info.max_tx_queues < queues) {
        throw port_error(device, "needs " + std::to_string(queues) + " RX and TX queues (one per lcore); it has " +
                                     std::to_string(info.max_rx_queues) + " RX and " +
                                     std::to_string(info.max_tx_queues) + " TX");
    }
    rte_eth_conf conf{};
    if (queues > 1 && info.flow_type_rss_offloads != 0) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf =
            (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
    }
    if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
        conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
    int result = rte_eth_dev_configure(port_id_, queues, queues, &conf);
    if (result != 0) throw port_error(device, std::string("rte_eth_dev_configure failed: ") + rte_strerror(-result));
    uint16_t rx_descriptors = kDescriptors, tx_descriptors = kDescriptors;
    rte_eth_dev_adjust_nb_rx_tx_desc(port_id_, &rx_descriptors, &tx_descriptors);
    const int socket = std::max(rte_eth_dev_socket_id(port_id_), 0);
    const std::string pool_name = "vipgen_" + std::to_string(getpid());
    pool_ = vipgate::create_packet_pool(pool_name.c_str(), port_id_, options_.mbufs, kPoolCache,
                                        RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (pool_ == nullptr) {
        throw port_error(device, "cannot create " + std::to_string(options_.mbufs) +
                                     " mbufs: " + rte_strerror(rte_errno) + " (raise -m in --eal or lower --mbufs)");
    }
    rte_eth_txconf tx_conf = info.default_txconf;
    tx_conf.offloads = conf.txmode.offloads;
    for (uint16_t queue = 0; queue < queues; ++queue) {
        result = rte_eth_rx_queue_setup(port_id_, queue, rx_descriptors, socket, nullptr, pool_);
        if (result == 0) result = rte_eth_tx_queue_setup(port_id_, queue, tx_descriptors, socket, &tx_conf);
        if (result != 0) throw port_error(device, std::string("queue setup failed: ") + rte_strerror(-result));
    }
    rte_eth_promiscuous_enable(port_id_);
    result = rte_eth_dev_start(port_id_);
    if (result != 0) {
        throw port_error(device, std::string("cannot start: ") + rte_strerror(-result) +
                                     " (a memif client needs its server running first)");
    }
    rte_eth_macaddr_get(port_id_, &our_mac_);
    const auto deadline = Clock::now() + kLinkTimeout;
    for (;;) {
        rte_eth_link link{};
        rte_eth_link_get_nowait(port_id_, &link);
        if (link.link_status == RTE_ETH_LINK_UP) break;
        if (Clock::now() > deadline) throw port_error(device, "link did not come up within 15 s");
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

// Every impersonated host asks the gateway for its MAC, as a real host would before talking
// to its router. The gateway answers and learns each host's MAC from the request, so it needs
// no static neighbor entries; the answer gives vipgen the gateway's MAC. Requests go out in
// small bursts so the gateway's control path (which handles ARP) is not flooded.
void Session::resolve_gateway() {
    const rte_ether_addr none{};
    bool resolved = options_.gateway_mac.has_value();
    const auto& hosts = targets_.impersonated_hosts;
    size_t next_host = 0;
    auto deadline = Clock::now() + kGatewayTimeout;
    while (next_host < hosts.size() || !resolved) {
        if (Clock::now() > deadline) {
            throw std::runtime_error("the gateway " + vipgate::config::format_ipv4(targets_.gateway_address) +
                                     " did not answer ARP within 5 s (is vipgate running on the other end of " +
                                     options_.port + "?)");
        }
        rte_mbuf* requests[GeneratorLcore::kBurst];
        uint16_t count = 0;
        for (; count < GeneratorLcore::kBurst && next_host < hosts.size(); ++count, ++next_host) {
            requests[count] = rte_pktmbuf_alloc(pool_);
            if (requests[count] == nullptr) break;
            vipgate::write_arp_request(requests[count], our_mac_, rte_cpu_to_be_32(hosts[next_host]),
                                       rte_cpu_to_be_32(targets_.gateway_address), 0);
        }
        const uint16_t sent = rte_eth_tx_burst(port_id_, 0, requests, count);
        rte_pktmbuf_free_bulk(requests + sent, count - sent);
        next_host -= count - sent;
        if (count != sent) deadline = Clock::now() + kGatewayTimeout;

        rte_mbuf* received[GeneratorLcore::kBurst];
        const uint16_t n = rte_eth_rx_burst(port_id_, 0, received, GeneratorLcore::kBurst);
        for (uint16_t i = 0; i < n; ++i) {
            rte_ether_addr mac = none;
            if (read_arp_reply(received[i], targets_.gateway_address, mac) && !resolved) {
                gateway_mac_ = mac;
                resolved = true;
            }
            if (make_arp_answer(received[i], hosts, our_mac_) && rte_eth_tx_burst(port_id_, 0, &received[i], 1) == 1) {
                continue;
            }
            rte_pktmbuf_free(received[i]);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

void Session::launch_lcores() {
    std::vector<unsigned> lcore_ids;
    unsigned lcore_id = 0;
    RTE_LCORE_FOREACH_WORKER(lcore_id) {
        if (lcore_ids.size() < options_.lcores) lcore_ids.push_back(lcore_id);
    }
    for (uint32_t index = 0; index < lcore_ids.size(); ++index) {
        LcoreSetup setup;
        setup.port_id = port_id_;
        setup.queue = static_cast<uint16_t>(index);
        setup.pool = pool_;
        setup.index = index;
        setup.our_mac = our_mac_;
        setup.tsc_hz = rte_get_tsc_hz();
        setup.factory = factory_.get();
        setup.checker = checker_.get();
        setup.memory = &memory_;
        setup.impersonated_hosts = &targets_.impersonated_hosts;
        setup.answer_backends = options_.mode == CheckMode::Gateway;
        setup.pattern = options_.pattern;
        setup.pattern.lcore = index;
        setup.pattern.lcore_count = options_.lcores;
        setup.endpoint_count = targets_.endpoints.size();
        setup.dns = dns_.get();
        lcores_.push_back(std::make_unique<GeneratorLcore>(setup, control_));
    }
    for (uint32_t index = 0; index < lcore_ids.size(); ++index) {
        const int result = rte_eal_remote_launch(lcore_main, lcores_[index].get(), lcore_ids[index]);
        if (result != 0) throw std::runtime_error("cannot launch lcore " + std::to_string(lcore_ids[index]));
        lcores_running_ = true;
    }
}

uint64_t Session::open_flows() {
    if (options_.mode == CheckMode::Forwarder || dns_ != nullptr || !TrafficPattern(options_.pattern).opens_flows()) {
        return 0;
    }
    const uint32_t flows = options_.pattern.flows;
    // Replies are tallied from the lcores' counters while they arrive; the flow table (up to
    // 100M slots) is scanned once per pass, not on every poll of this lcore's shared CPU.
    auto replies_so_far = [&] {
        LcoreCounters sum;
        for (const auto& lcore : lcores_) sum.add(lcore->statistics().counters);
        return sum.returned_packets;
    };
    auto count_replied = [&] {
        uint64_t replied = 0;
        for (uint32_t flow = 0; flow < flows; ++flow) replied += memory_.replied(flow) ? 1 : 0;
        return replied;
    };
    const auto start = Clock::now();
    for (unsigned pass = 0; pass < kOpenPasses && flows_opened_ < flows; ++pass) {
        Command open{Phase::Open, options_.warmup_rate_pps / options_.lcores};
        open.reset_statistics = pass == 0;
        open.retry_only = pass > 0;
        control_.post(open);
        while (!std::all_of(lcores_.begin(), lcores_.end(), [](const auto& l) { return l->open_pass_done(); })) {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        control_.post(Command{Phase::Idle});
        // Wait for the replies: until their count stops growing (at most 5 s).
        uint64_t before = replies_so_far();
        for (int wait = 0; wait < 50; ++wait) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            const uint64_t now = replies_so_far();
            if (wait >= 2 && now == before) break;
            before = now;
        }
        flows_opened_ = count_replied();
        std::fprintf(stderr, "vipgen: opening flows, pass %u: %llu of %u flows answered (%.1f s)\n", pass + 1,
                     static_cast<unsigned long long>(flows_opened_), flows, seconds_since(start));
    }
    control_.post(Command{Phase::Idle, 0, false});
    warmup_ = collect(options_.warmup_rate_pps, seconds_since(start));
    return flows_opened_;
}

Measurement Session::run_trial(double rate_pps, double duration_s) {
    control_.post(Command{Phase::Idle, 0, true, true});
    const bool terminal = isatty(STDERR_FILENO) != 0;
    const auto start = Clock::now();
    Command run{Phase::Run, rate_pps / options_.lcores};
    run.silent_backends = options_.silent_backends;
    control_.post(run);
    LcoreCounters last;
    double last_time = 0;
    for (;;) {
        const double elapsed = seconds_since(start);
        if (elapsed >= duration_s) break;
        std::this_thread::sleep_for(std::chrono::duration<double>(std::min(1.0, duration_s - elapsed)));
        LcoreCounters now;
        for (const auto& lcore : lcores_) now.add(lcore->statistics().counters);
        const double t = seconds_since(start);
        const double interval = std::max(t - last_time, 1e-9);
        uint64_t failures = 0;
        for (size_t i = 1; i < now.verdicts.size(); ++i) failures += now.verdicts[i];
        std::fprintf(stderr, "%svipgen %6.1fs  tx %8.3f Mpps  rx %8.3f Mpps  lost %llu  check failures %llu%s",
                     terminal ? "\r" : "", t, (now.tx_packets - last.tx_packets) / interval / 1e6,
                     (now.returned_packets - last.returned_packets) / interval / 1e6,
                     static_cast<unsigned long long>(
                         now.tx_packets > now.returned_packets ? now.tx_packets - now.returned_packets : 0),
                     static_cast<unsigned long long>(failures), terminal ? "   " : "\n");
        last = now;
        last_time = t;
    }
    control_.post(Command{Phase::Idle});
    const double duration = seconds_since(start);
    std::this_thread::sleep_for(kDrainTime);
    control_.post(Command{Phase::Idle, 0, false});
    if (terminal) std::fprintf(stderr, "\n");
    Measurement measurement = collect(rate_pps, duration);
    measurement.replies_expected = !options_.silent_backends;
    measurement.flood = options_.pattern.pattern == Pattern::Flood;
    return measurement;
}

SearchResult Session::search(std::vector<Measurement>& measurements) {
    double max_rate = options_.rate_pps;
    if (max_rate <= 0) {
        measurements.push_back(run_trial(0, options_.duration_s));
        max_rate = measurements.back().sent_pps();
    }
    SearchOptions search_options;
    search_options.max_rate_pps = max_rate;
    search_options.min_rate_pps = std::min(1000.0, max_rate / 2);
    search_options.precision = options_.precision;
    search_options.pdr_loss_ratio = options_.pdr_loss_percent / 100.0;
    return search_ndr_pdr(search_options, [&](double rate) {
        std::fprintf(stderr, "vipgen: trial at %.3f Mpps\n", rate / 1e6);
        measurements.push_back(run_trial(rate, options_.duration_s));
        const Measurement& m = measurements.back();
        return TrialResult{rate, m.sent_pps(), m.counters.tx_packets, m.counters.tx_packets - m.lost()};
    });
}

Measurement Session::collect(double rate_pps, double duration_s) const {
    Measurement m;
    m.rate_target_pps = rate_pps;
    m.duration_s = duration_s;
    m.endpoint_packets.assign(targets_.endpoints.size(), 0);
    for (const auto& lcore : lcores_) {
        const LcoreStats& stats = lcore->statistics();
        m.counters.add(stats.counters);
        m.latency.merge(stats.latency);
        for (size_t i = 0; i < m.endpoint_packets.size(); ++i) m.endpoint_packets[i] += stats.endpoint_packets[i];
    }
    return m;
}

}  // namespace vipgen
