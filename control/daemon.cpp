#include "control/daemon.h"

#include <malloc.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include "config/config.h"
#include "control/api_handlers.h"
#include "control/api_server.h"
#include "control/control_plane.h"
#include "control/flow_steering.h"
#include "control/kernel_path.h"
#include "control/metrics_exporter.h"
#include "control/metrics_families.h"
#include "control/neighbor_discovery.h"
#include "control/neighbor_resolver.h"
#include "control/packet_capture.h"
#include "control/port_setup.h"
#include "control/publisher.h"
#include "control/route_announcer.h"
#include "control/snapshot_builder.h"
#include "control/stats_reporter.h"
#include "control/telemetry_commands.h"
#include "dataplane/affinity_table.h"
#include "dataplane/conn_table.h"
#include "dataplane/worker.h"

namespace vipgate {
namespace {

constexpr unsigned kHandoffRingSize = 4096;
constexpr unsigned kPuntRingSize = 4096;
constexpr unsigned kPuntDrainBatch = 64;
constexpr auto kControlLoopPeriod = std::chrono::milliseconds(1);
constexpr uint64_t kNeighborTickMs = 100;
// After a clean stop withdrew the announced routes, the routing daemon's withdrawal still has to
// leave through the kernel path (the tap is read by the control loop): this long.
constexpr uint64_t kWithdrawalGraceMs = 500;
constexpr uint64_t kGenerationWaitLimitUs = 100'000;

// Set from signal handlers; lock-free atomics are async-signal-safe.
std::atomic<bool> reload_requested{false};
std::atomic<bool> stop_requested{false};

void on_signal(int signal_number) {
    if (signal_number == SIGHUP) {
        reload_requested.store(true, std::memory_order_relaxed);
    } else {
        stop_requested.store(true, std::memory_order_relaxed);
    }
}

void install_signal_handlers() {
    struct sigaction action {};
    action.sa_handler = on_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (int signal_number : {SIGHUP, SIGINT, SIGTERM}) sigaction(signal_number, &action, nullptr);
}

// Free hugepages of any size, as the kernel reports them.
uint64_t free_hugepages() {
    uint64_t total = 0;
    for (const char* path : {"/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
                             "/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages"}) {
        std::ifstream file(path);
        uint64_t pages = 0;
        if (file >> pages) total += pages;
    }
    return total;
}

bool has_option(const std::vector<std::string>& args, const std::string& option) {
    return std::find(args.begin(), args.end(), option) != args.end();
}

bool has_lcore_option(const std::vector<std::string>& args) {
    for (const auto& arg : args) {
        if (arg == "-l" || arg == "-c" || arg.rfind("--lcores", 0) == 0 || arg.rfind("-l", 0) == 0) return true;
    }
    return false;
}

std::vector<std::pair<uint32_t, rte_ether_addr>> static_neighbors(const config::Config& config) {
    std::vector<std::pair<uint32_t, rte_ether_addr>> entries;
    for (const auto& neighbor : config.neighbors) {
        if (!config::is_zero(neighbor.address6)) continue;  // IPv6: in the snapshot (Ipv6Settings)
        rte_ether_addr mac;
        std::copy(neighbor.mac.begin(), neighbor.mac.end(), mac.addr_bytes);
        entries.emplace_back(rte_cpu_to_be_32(neighbor.address), mac);
    }
    return entries;
}

// "services: +1 added, -0 removed, ~2 changed (default/web, default/dns)" for the reload log.
std::string service_changes(const config::Config& running, const config::Config& candidate) {
    auto key = [](const config::ServiceConfig& service) { return service.namespace_name + "/" + service.name; };
    std::map<std::string, const config::ServiceConfig*> before;
    for (const auto& service : running.services) before[key(service)] = &service;
    size_t added = 0;
    size_t changed = 0;
    std::string names;
    for (const auto& service : candidate.services) {
        auto found = before.find(key(service));
        bool is_new = found == before.end();
        if (!is_new && *found->second == service) {
            before.erase(found);
            continue;
        }
        (is_new ? added : changed) += 1;
        if (!is_new) before.erase(found);
        names.append(names.empty() ? "" : ", ").append(is_new ? "+" : "~").append(key(service));
    }
    for (const auto& [name, service] : before) names.append(names.empty() ? "" : ", ").append("-").append(name);
    return "services +" + std::to_string(added) + " -" + std::to_string(before.size()) + " ~" +
           std::to_string(changed) + (names.empty() ? "" : " (" + names + ")");
}

uint64_t steady_ms() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

class Daemon {
public:
    Daemon(DaemonOptions options, config::Config config) : options_(std::move(options)), running_(std::move(config)) {}
    ~Daemon();

    int run();

private:
    void start_eal();
    void create_workers();
    void launch_workers();
    void control_loop();
    void withdraw_announcements();
    void reload();
    void start_requested_reload();
    void apply_reloaded_neighbors();
    void join_reload();
    uint64_t running_generation();
    Publication publish(std::unique_ptr<Snapshot> snapshot);
    Publication wait_in_use(uint64_t generation);
    void drain_punt_ring(uint64_t now_ms);
    void publish_default_route6();
    void steer_snat_replies();
    void stop_workers();
    void report_final();
    void start_api();
    void stop_api();
    void publish_telemetry();
    void observe_updates();
    void start_metrics(const std::vector<WorkerContext*>& workers);
    void start_kubernetes();

    DaemonOptions options_;
    config::Config running_;
    bool eal_started_ = false;
    std::vector<unsigned> control_cpus_;  // the CPUs this process may use that no worker polls
    bool workers_launched_ = false;
    std::vector<PortRuntime> ports_;
    std::vector<std::unique_ptr<FlowSteering>> steering_;  // one per port, full-NAT with several workers
    std::unique_ptr<NeighborTable> neighbors_;
    std::unique_ptr<NeighborResolver> resolver_;
    std::unique_ptr<NeighborTable6> neighbors6_;
    std::unique_ptr<NeighborDiscovery> discovery_;
    NeighborCountsBoard neighbor_counts_;        // the resolvers' counts for the API and metrics threads
    std::unique_ptr<KernelPath> kernel_path_;    // ports with a kernel_interface; null: none
    std::unique_ptr<RouteAnnouncer> announcer_;  // [announce] enabled; null: nothing announced
    // The default routers learnt from router advertisements, for the API and metrics threads, and
    // the learnt IPv6 default route the published snapshots carry.
    RouterAdvertisementBoard router_advertisements_;
    std::optional<DefaultRoute6> published_default6_;
    std::unique_ptr<Publisher> publisher_;
    std::unique_ptr<SnapshotBuilder> builder_;
    std::unique_ptr<ControlPlane> control_plane_;
    std::optional<KubeEndpoint> kube_endpoint_;  // read before anything starts: a bad kubeconfig stops nothing
    std::unique_ptr<KubernetesSource> kubernetes_;
    std::unique_ptr<ApiBackend> api_backend_;
    std::unique_ptr<ApiServer> api_server_;
    std::unique_ptr<UpdateMetrics> update_metrics_;
    std::unique_ptr<MetricsExporter> metrics_;
    std::unique_ptr<StatsReporter> reporter_;
    std::vector<std::unique_ptr<WorkerContext>> workers_;
    std::vector<WorkerLaunch> launches_;
    rte_ring* punt_ring_ = nullptr;
    rte_ring* control_tx_ring_ = nullptr;
    std::atomic<bool> workers_stop_{false};
    std::chrono::steady_clock::time_point started_at_;
    // A SIGHUP reload runs on a thread of its own (see start_requested_reload).
    std::thread reload_thread_;
    std::atomic<bool> reload_finished_{false};
    std::mutex reloaded_neighbors_mutex_;
    std::optional<std::vector<std::pair<uint32_t, rte_ether_addr>>> reloaded_neighbors_;
};

void Daemon::start_eal() {
    std::vector<std::string> args = {"vipgate"};
    args.insert(args.end(), running_.eal.args.begin(), running_.eal.args.end());
    if (!has_option(args, "--no-huge") && !has_option(args, "--in-memory") && free_hugepages() == 0) {
        spdlog::warn(
            "no free hugepages (tools/setup.sh reserves them when the kernel allows): running with "
            "--no-huge (slower){}",
            has_option(args, "-m") ? "" : " and -m 1024");
        args.push_back("--no-huge");
        if (!has_option(args, "-m")) {
            args.push_back("-m");
            args.push_back("1024");
        }
    }
    if (!has_lcore_option(running_.eal.args)) {
        std::string lcores = "0";
        for (unsigned lcore : running_.dataplane.worker_lcores) lcores.append(",").append(std::to_string(lcore));
        args.push_back("-l");
        args.push_back(lcores);
    }
    // Read before the EAL pins this thread to the main lcore: what taskset or the cgroup allows.
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) CPU_SET(0, &allowed);
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        throw std::runtime_error("rte_eal_init failed with EAL arguments from [eal] args (see the EAL messages above)");
    }
    eal_started_ = true;
    enable_packet_capture(args);
    for (unsigned lcore : running_.dataplane.worker_lcores) {
        if (!rte_lcore_is_enabled(lcore) || lcore == rte_get_main_lcore()) {
            throw std::runtime_error("worker lcore " + std::to_string(lcore) +
                                     " is not an enabled non-main EAL lcore; list it in the EAL -l/--lcores option "
                                     "and keep the main lcore (" +
                                     std::to_string(rte_get_main_lcore()) + ") for the control thread");
        }
    }
    for (unsigned cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &allowed)) continue;
        const bool polled = std::any_of(running_.dataplane.worker_lcores.begin(),
                                        running_.dataplane.worker_lcores.end(), [&](unsigned lcore) {
                                            rte_cpuset_t worker = rte_lcore_cpuset(lcore);
                                            return CPU_ISSET(cpu, &worker);
                                        });
        if (!polled) control_cpus_.push_back(cpu);
    }
}

void Daemon::create_workers() {
    const auto worker_count = static_cast<uint16_t>(running_.dataplane.worker_lcores.size());
    if (worker_count > kMaxWorkers) throw std::runtime_error("at most " + std::to_string(kMaxWorkers) + " workers");
    if (running_.ports.size() > kMaxPorts) throw std::runtime_error("at most " + std::to_string(kMaxPorts) + " ports");
    punt_ring_ = rte_ring_create("vipgate_punt", kPuntRingSize, SOCKET_ID_ANY, RING_F_SC_DEQ);
    if (punt_ring_ == nullptr) throw std::runtime_error("cannot create the punt ring (EAL memory too small?)");
    std::vector<rte_ring*> handoff_rings;
    for (uint16_t index = 0; index < worker_count; ++index) {
        std::string ring_name = "vipgate_handoff_" + std::to_string(index);
        int socket = static_cast<int>(rte_lcore_to_socket_id(running_.dataplane.worker_lcores[index]));
        rte_ring* ring = rte_ring_create(ring_name.c_str(), kHandoffRingSize, socket, RING_F_SC_DEQ);
        if (ring == nullptr) throw std::runtime_error("cannot create hand-off ring " + ring_name);
        handoff_rings.push_back(ring);
    }
    std::random_device entropy;  // /dev/urandom: the DNS TCP responder's ISN key must not be guessable
    const SipHashKey dns_tcp_key{uint64_t{entropy()} << 32 | entropy(), uint64_t{entropy()} << 32 | entropy()};
    for (uint16_t index = 0; index < worker_count; ++index) {
        auto context = std::make_unique<WorkerContext>();
        context->worker_index = index;
        context->worker_count = worker_count;
        context->port_count = static_cast<uint16_t>(ports_.size());
        for (size_t p = 0; p < ports_.size(); ++p) {
            context->port_ids[p] = ports_[p].port_id;
            context->tx_queue[p] = index;
        }
        std::copy(handoff_rings.begin(), handoff_rings.end(), context->handoff_rings.begin());
        int socket = static_cast<int>(rte_lcore_to_socket_id(running_.dataplane.worker_lcores[index]));
        context->connections =
            ConnTable::create(running_.conntrack.capacity, static_cast<uint32_t>(running_.dataplane.hash_seed), socket);
        workers_.push_back(std::move(context));
        WorkerContext& worker = *workers_.back();
        if (worker.connections == nullptr) {
            throw std::runtime_error("cannot allocate a connection table of " +
                                     std::to_string(running_.conntrack.capacity) + " entries for worker " +
                                     std::to_string(index) +
                                     " (raise the EAL memory with -m or lower conntrack.capacity)");
        }
        // IPv6 needs an on-link IPv6 prefix: without one no table is allocated and IPv6 stays
        // unserved. A quarter of the IPv4 capacity (118 bytes per IPv6 connection: docs/ipv6.md).
        const bool serves_ipv6 = std::any_of(running_.ports.begin(), running_.ports.end(),
                                             [](const config::PortConfig& port) { return !port.addresses6.empty(); });
        if (serves_ipv6) {
            const uint32_t capacity6 = std::max<uint32_t>(running_.conntrack.capacity / 4, 1024);
            worker.connections6 =
                ConnTable6::create(capacity6, static_cast<uint32_t>(running_.dataplane.hash_seed), socket);
            if (worker.connections6 == nullptr) {
                throw std::runtime_error("cannot allocate an IPv6 connection table of " + std::to_string(capacity6) +
                                         " entries for worker " + std::to_string(index) +
                                         " (raise the EAL memory with -m or lower conntrack.capacity)");
            }
            worker.affinity6 = AffinityTable6::create(AffinityTable6::kDefaultCapacity,
                                                      static_cast<uint32_t>(running_.dataplane.hash_seed), socket);
            if (worker.affinity6 == nullptr) {
                throw std::runtime_error("cannot allocate the IPv6 session affinity table for worker " +
                                         std::to_string(index) + " (raise the EAL memory with -m)");
            }
        }
        worker.affinity = AffinityTable::create(AffinityTable::kDefaultCapacity,
                                                static_cast<uint32_t>(running_.dataplane.hash_seed), socket);
        if (worker.affinity == nullptr) {
            throw std::runtime_error("cannot allocate the session affinity table for worker " + std::to_string(index) +
                                     " (raise the EAL memory with -m)");
        }
        worker.endpoint_counters = static_cast<EndpointCounters*>(
            rte_zmalloc_socket("endpoint_counters", sizeof(EndpointCounters) * SnapshotBuilder::kMaxEndpointSlots,
                               RTE_CACHE_LINE_SIZE, socket));
        if (worker.endpoint_counters == nullptr) throw std::runtime_error("cannot allocate endpoint counters");
        worker.endpoint_handshakes = static_cast<EndpointHandshakes*>(
            rte_zmalloc_socket("endpoint_handshakes", sizeof(EndpointHandshakes) * SnapshotBuilder::kMaxEndpointSlots,
                               RTE_CACHE_LINE_SIZE, socket));
        if (worker.endpoint_handshakes == nullptr) {
            throw std::runtime_error("cannot allocate the connect-latency histograms (raise the EAL memory with -m)");
        }
        worker.service_port_refusals = static_cast<uint64_t*>(
            rte_zmalloc_socket("service_port_refusals", sizeof(uint64_t) * SnapshotBuilder::kMaxServicePorts,
                               RTE_CACHE_LINE_SIZE, socket));
        if (worker.service_port_refusals == nullptr) throw std::runtime_error("cannot allocate refusal counters");
        worker.service_port_slots = SnapshotBuilder::kMaxServicePorts;
        worker.dns_rate_limiter = DnsRateLimiter::create(socket);
        if (worker.dns_rate_limiter == nullptr)
            throw std::runtime_error("cannot allocate the DNS rate limiter (raise the EAL memory with -m)");
        worker.dns_tcp_key = dns_tcp_key;
        worker.endpoint_counter_slots = SnapshotBuilder::kMaxEndpointSlots;
        worker.connections->set_unanswered_counters(worker.endpoint_counters, worker.endpoint_counter_slots);
        if (worker.connections6 != nullptr) {
            worker.connections6->set_unanswered_counters(worker.endpoint_counters, worker.endpoint_counter_slots);
        }
        worker.neighbors = neighbors_.get();
        worker.neighbors6 = neighbors6_.get();
        worker.punt_ring = punt_ring_;
        if (index == 0) worker.control_tx_ring = control_tx_ring_;
        if (kernel_path_) {
            worker.kernel_ring = kernel_path_->to_kernel_ring();
            if (index == 0) worker.kernel_tx_ring = kernel_path_->from_kernel_ring();
        }
    }
}

void Daemon::launch_workers() {
    launches_.resize(workers_.size());
    // Set first: if a later launch fails, the ones already running must still be stopped.
    workers_launched_ = true;
    for (size_t index = 0; index < workers_.size(); ++index) {
        launches_[index] =
            WorkerLaunch{workers_[index].get(), &publisher_->current_pointer(), publisher_->qsbr(), &workers_stop_};
        unsigned lcore = running_.dataplane.worker_lcores[index];
        if (rte_eal_remote_launch(run_worker, &launches_[index], lcore) != 0) {
            throw std::runtime_error("cannot launch worker on lcore " + std::to_string(lcore));
        }
    }
}

Publication Daemon::publish(std::unique_ptr<Snapshot> snapshot) {
    if (reporter_) reporter_->note_snapshot(*snapshot);
    publisher_->publish(std::move(snapshot));
    return Publication{0};
}

// Programming latency: from the publish to every worker forwarding with the new snapshot (or a
// later one). Runs without the control-plane lock (ControlPlane's design note).
Publication Daemon::wait_in_use(uint64_t generation) {
    if (!workers_launched_) return Publication{0};
    const auto started = std::chrono::steady_clock::now();
    uint64_t waited_us = 0;
    for (;;) {
        bool all = true;
        for (const auto& worker : workers_) {
            all = all &&
                  std::atomic_ref<uint64_t>(worker->counters.snapshot_generation).load(std::memory_order_relaxed) >=
                      generation;
        }
        waited_us = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count());
        if (all || waited_us > kGenerationWaitLimitUs) {
            if (all) {
                spdlog::info("generation {} in use by all {} workers {} us after publication", generation,
                             workers_.size(), waited_us);
            } else {
                spdlog::warn("generation {} not yet in use by every worker after {} us", generation, waited_us);
            }
            return Publication{waited_us};
        }
        // Several API clients may wait at once: after the first 200 us (a worker's usual pickup
        // on its own core) poll gently, so waiters do not take CPU time from the workers.
        if (waited_us < 200) {
            std::this_thread::yield();
        } else {
            std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
    }
}

void Daemon::reload() {
    if (options_.config_path.empty()) {
        spdlog::info("SIGHUP: running the embedded default configuration; nothing to reload");
        return;
    }
    spdlog::info("SIGHUP: reloading {}", options_.config_path);
    const auto requested = std::chrono::steady_clock::now();
    config::LoadResult loaded = config::load_config_file(options_.config_path);
    if (!loaded.errors.empty()) {
        for (const auto& error : loaded.errors) spdlog::error("{}", error.to_string());
        spdlog::error("reload rejected: {} error(s) in {}; still running generation {}", loaded.errors.size(),
                      options_.config_path, running_generation());
        return;
    }
    const config::Config running = control_plane_->running_config();
    std::vector<std::string> restart_only = config::restart_only_differences(running, *loaded.config);
    if (!restart_only.empty()) {
        std::string fields;
        for (const auto& field : restart_only) fields.append(fields.empty() ? "" : ", ").append(field);
        spdlog::error(
            "reload rejected: {} cannot change while running (restart vipgate to apply); still running "
            "generation {}",
            fields, running_generation());
        return;
    }
    const double parse_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - requested).count();
    const std::string changes = service_changes(running, *loaded.config);
    std::vector<std::pair<uint32_t, rte_ether_addr>> neighbors = static_neighbors(*loaded.config);
    UpdateOutcome outcome;
    try {
        outcome = control_plane_->reload(std::move(*loaded.config), requested);
    } catch (const std::exception& error) {
        spdlog::error("reload failed: {}; still running generation {}", error.what(), running_generation());
        return;
    }
    if (!outcome.result.ok()) {
        for (const auto& error : outcome.result.errors) spdlog::error("{}", error.to_string());
        spdlog::error("reload rejected: {} error(s); still running generation {}", outcome.result.errors.size(),
                      outcome.generation);
        return;
    }
    {
        const std::lock_guard<std::mutex> lock(reloaded_neighbors_mutex_);
        reloaded_neighbors_ = std::move(neighbors);
    }
    if (!outcome.published) {
        spdlog::info(
            "update applied: generation {} unchanged (nothing the dataplane uses changed; validated in "
            "{:.2f} ms)",
            outcome.generation, parse_ms + outcome.timing.validate_ms);
        return;
    }
    const BuildStatistics& statistics = outcome.statistics;
    spdlog::info(
        "generation {} built in {:.2f} ms: {}; {} service ports, Maglev tables {} rebuilt / {} kept, "
        "endpoints +{} -{}",
        outcome.generation, outcome.timing.build_ms, changes, statistics.service_ports, statistics.maglev_built,
        statistics.maglev_reused, statistics.endpoints_added, statistics.endpoints_removed);
    // Programming latency as an operator sees it: from the reload request to every worker.
    spdlog::info(
        "update applied: generation {} in use by every worker {:.2f} ms after the reload began (parse and "
        "validate {:.2f} ms, build {:.2f} ms, publication {} us)",
        outcome.generation,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - requested).count(),
        parse_ms + outcome.timing.validate_ms, outcome.timing.build_ms, outcome.timing.publish_us);
}

// Why a thread: parsing, validating and building a large file takes seconds, and the control
// loop must go on answering ARP, reclaiming snapshots and printing stats meanwhile. One reload
// runs at a time; a SIGHUP during one leaves reload_requested set, so the file is read again
// once it ends (the last SIGHUP always leads to a reload that starts after it).
void Daemon::start_requested_reload() {
    if (reload_thread_.joinable()) {
        if (!reload_finished_.load(std::memory_order_acquire)) return;
        reload_thread_.join();
    }
    if (!reload_requested.exchange(false, std::memory_order_relaxed)) return;
    reload_finished_.store(false, std::memory_order_relaxed);
    reload_thread_ = std::thread([this] {
        try {
            reload();
        } catch (const std::exception& error) {  // out of memory, say: this reload fails, the daemon goes on
            spdlog::error("reload failed: {}; still running generation {}", error.what(), running_generation());
        }
        reload_finished_.store(true, std::memory_order_release);
    });
}

// The neighbor resolver belongs to the control loop, so a reload leaves its static entries here.
void Daemon::apply_reloaded_neighbors() {
    std::optional<std::vector<std::pair<uint32_t, rte_ether_addr>>> neighbors;
    {
        const std::lock_guard<std::mutex> lock(reloaded_neighbors_mutex_);
        neighbors.swap(reloaded_neighbors_);
    }
    if (neighbors) resolver_->set_static(std::move(*neighbors));
}

void Daemon::join_reload() {
    if (reload_thread_.joinable()) reload_thread_.join();
}

// Read under the control plane's lock: the snapshot may be retired and reclaimed meanwhile.
uint64_t Daemon::running_generation() {
    uint64_t generation = 0;
    control_plane_->locked([&] { generation = publisher_->current()->generation; });
    return generation;
}

void Daemon::steer_snat_replies() {
    const Snapshot& snapshot = *publisher_->current();
    if (snapshot.nat_mode != NatMode::FullNat || snapshot.worker_count < 2) return;
    for (const PortRuntime& port : ports_) {
        auto steering = std::make_unique<FlowSteering>();
        if (steering->install(port.port_id, running_.snat.addresses, snapshot.snat_ports)) {
            spdlog::info("port {}: {} rte_flow rules steer SNAT replies to their workers", port.name,
                         steering->rule_count());
        } else {
            spdlog::info(
                "port {}: no rte_flow steering ({}); replies reach their workers through the "
                "software hand-off ring",
                port.name, steering->failure());
        }
        steering_.push_back(std::move(steering));
    }
}

void Daemon::drain_punt_ring(uint64_t now_ms) {
    rte_mbuf* packets[kPuntDrainBatch];
    unsigned count;
    while ((count = rte_ring_sc_dequeue_burst(punt_ring_, reinterpret_cast<void**>(packets), kPuntDrainBatch,
                                              nullptr)) > 0) {
        for (unsigned i = 0; i < count; ++i) {
            if (NeighborDiscovery::takes(packets[i])) {
                discovery_->handle(packets[i], *publisher_->current(), now_ms);
            } else {
                resolver_->handle(packets[i], *publisher_->current(), now_ms);
            }
        }
    }
}

// A change of learnt default router reaches the workers as any change does (a snapshot built and
// published), but never makes the control loop wait: while an update holds the lock it is tried
// again at the next iteration.
void Daemon::publish_default_route6() {
    const std::optional<DefaultRoute6> wanted = discovery_->default_route();
    if (wanted == published_default6_) return;
    const std::optional<UpdateOutcome> outcome = control_plane_->try_set_default_route6(wanted);
    if (!outcome) return;
    published_default6_ = wanted;
    if (!outcome->result.ok()) {
        spdlog::error("IPv6 default route from router advertisements not installed: {}",
                      config::describe_errors(outcome->result.errors));
        return;
    }
    if (wanted) {
        spdlog::info("generation {} published: IPv6 default route via {} on port {} (router advertisement)",
                     outcome->generation, NdFamily::text(wanted->router), ports_[wanted->port_index].name);
    } else {
        spdlog::info("generation {} published: no IPv6 default route from router advertisements", outcome->generation);
    }
}

void Daemon::control_loop() {
    StatsReporter& reporter = *reporter_;
    const uint64_t start_ms = steady_ms();
    uint64_t next_stats_ms = start_ms + running_.dataplane.stats_interval_ms;
    uint64_t next_neighbor_tick_ms = start_ms;
    reporter.interval_line(start_ms);
    while (!stop_requested.load(std::memory_order_relaxed)) {
        const uint64_t now_ms = steady_ms();
        drain_punt_ring(now_ms);
        if (kernel_path_) kernel_path_->poll(*publisher_->current(), now_ms);
        if (announcer_) announcer_->sync(*publisher_->current(), std::chrono::steady_clock::now());
        if (now_ms >= next_neighbor_tick_ms) {
            resolver_->tick(*publisher_->current(), now_ms);
            discovery_->tick(*publisher_->current(), now_ms);
            neighbor_counts_.publish(resolver_->counts(), discovery_->counts());
            router_advertisements_.publish(discovery_->router_advertisements(now_ms));
            next_neighbor_tick_ms = now_ms + kNeighborTickMs;
        }
        publish_default_route6();
        // Never waits for an update in progress (a reload or an API request holds the lock).
        control_plane_->try_locked([this] { publisher_->reclaim(); });
        start_requested_reload();
        apply_reloaded_neighbors();
        if (now_ms >= next_stats_ms) {
            spdlog::info("{}", reporter.interval_line(now_ms));
            if (options_.show_endpoints) {
                // The API thread publishes (and notes snapshots in the reporter) under this lock;
                // while an update holds it, this interval's table is left out.
                control_plane_->try_locked(
                    [&] { spdlog::info("per-endpoint spread:\n{}", reporter.endpoint_table(*publisher_->current())); });
            }
            next_stats_ms += running_.dataplane.stats_interval_ms;
        }
        if (options_.duration_seconds > 0 && double(now_ms - start_ms) >= options_.duration_seconds * 1000.0) break;
        std::this_thread::sleep_for(kControlLoopPeriod);
    }
    spdlog::info("stopping: {}", stop_requested.load() ? "signal received" : "run time reached");
}

// At a clean stop, first thing: the routes go and the routing daemon tells the router while the
// gateway still forwards and its kernel path still carries the daemon's BGP messages.
void Daemon::withdraw_announcements() {
    if (!announcer_) return;
    announcer_->withdraw_all();
    const uint64_t until_ms = steady_ms() + kWithdrawalGraceMs;
    for (uint64_t now_ms = steady_ms(); now_ms < until_ms; now_ms = steady_ms()) {
        drain_punt_ring(now_ms);
        if (kernel_path_) kernel_path_->poll(*publisher_->current(), now_ms);
        control_plane_->try_locked([this] { publisher_->reclaim(); });
        std::this_thread::sleep_for(kControlLoopPeriod);
    }
}

void Daemon::stop_workers() {
    if (!workers_launched_) return;
    workers_stop_.store(true, std::memory_order_relaxed);
    rte_eal_mp_wait_lcore();
    workers_launched_ = false;
}

void Daemon::report_final() {
    const StatsReporter& reporter = *reporter_;
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count();
    std::string text = "final counters:\n" + reporter.final_report(elapsed);
    if (publisher_ && publisher_->current())
        text += "per-endpoint spread:\n" + reporter.endpoint_table(*publisher_->current());
    const NeighborStatistics& neighbor = resolver_->statistics();
    text += "  arp: " + std::to_string(neighbor.arp_requests_sent) + " requests sent, " +
            std::to_string(neighbor.arp_replies_sent) + " replies sent, " + std::to_string(neighbor.learnt) +
            " neighbors learnt, " + std::to_string(neighbor.held_dropped) + " held packets dropped, " +
            std::to_string(neighbor.conflicts) + " claims on our addresses (" +
            std::to_string(neighbor.announcements_sent) + " announcements sent), " +
            std::to_string(neighbor.updates_refused) + " unsolicited MAC changes refused\n";
    const NdStatistics& nd = discovery_->statistics();
    text += "  nd: " + std::to_string(nd.solicitations_sent) + " solicitations sent, " +
            std::to_string(nd.advertisements_sent) + " advertisements sent, " + std::to_string(nd.learnt) +
            " neighbors learnt, " + std::to_string(nd.held_sent) + " held packets sent, " +
            std::to_string(nd.held_dropped) + " held packets dropped, " + std::to_string(nd.conflicts) +
            " claims on our addresses, " + std::to_string(nd.updates_refused) + " unsolicited MAC changes refused, " +
            std::to_string(nd.not_ours) + " solicitations for other hosts\n";
    if (kernel_path_) {
        const KernelPathStatistics& kernel = kernel_path_->statistics();
        text += "  kernel path: " + std::to_string(kernel.written_to_tap) + " packets written to the taps (" +
                std::to_string(kernel.tap_refused) + " refused), " + std::to_string(kernel.arp_answered) +
                " kernel ARP requests answered (" + std::to_string(kernel.arp_resolving) + " resolved first), " +
                std::to_string(kernel.nd_answered) + " kernel neighbor solicitations answered (" +
                std::to_string(kernel.nd_resolving) + " resolved first), " + std::to_string(kernel.ring_full) +
                " kernel frames lost to a full ring\n";
    }
    spdlog::info("{}", text);
}

// The API is a convenience beside the dataplane: a socket it cannot take is reported, and the
// gateway keeps forwarding without it.
void Daemon::start_api() {
    if (options_.api_socket.empty()) {
        spdlog::info("control API disabled (--api-socket \"\")");
        return;
    }
    ApiServer::Limits limits;
    limits.serialize_handler = false;  // handle_api_request is thread-safe (api_handlers.h)
    api_server_ = std::make_unique<ApiServer>(
        options_.api_socket,
        [this](const nlohmann::json& request) { return handle_api_request(request, *api_backend_); }, limits);
    try {
        api_server_->start();
        spdlog::info("control API listening on {} (vipctl --socket {})", options_.api_socket, options_.api_socket);
    } catch (const std::exception& error) {
        spdlog::error("control API not started: {}", error.what());
        api_server_.reset();
    }
}

// A long request (a capture) ends at once, then the API threads are joined; telemetry answers
// with an error from then on.
void Daemon::stop_api() {
    if (api_backend_) api_backend_->stopping.store(true, std::memory_order_relaxed);
    api_server_.reset();
    withdraw_telemetry_commands();
}

// The same answers as the API's, on DPDK's telemetry socket (when the EAL runs telemetry).
void Daemon::publish_telemetry() {
    if (publish_telemetry_commands(*api_backend_)) {
        spdlog::info("telemetry: /vipgate/stats, /vipgate/services and /vipgate/workers registered");
    } else {
        spdlog::warn("telemetry: DPDK refused the /vipgate commands; dpdk-telemetry.py shows the ports only");
    }
}

// Every update's timings feed the histograms, whether or not the endpoint is served (it costs
// a few atomic adds per update, and the observer must be in place before the API starts).
void Daemon::observe_updates() {
    update_metrics_ = std::make_unique<UpdateMetrics>();
    control_plane_->set_observer([metrics = update_metrics_.get()](const UpdateOutcome& outcome) {
        const UpdateMetrics::Result result = !outcome.result.ok() ? UpdateMetrics::Result::Refused
                                             : outcome.published  ? UpdateMetrics::Result::Published
                                                                  : UpdateMetrics::Result::Unchanged;
        metrics->observe(result, outcome.timing.validate_ms / 1e3, outcome.timing.build_ms / 1e3,
                         static_cast<double>(outcome.timing.publish_us) / 1e6, outcome.timing.total_ms / 1e3,
                         std::chrono::system_clock::now());
    });
}

// Started before the API (whose stats read it) and after the workers: its first sync publishes.
// The kubeconfig was read first thing in run(): one that cannot be read stops the start-up
// before the EAL (the operator asked for the cluster).
void Daemon::start_kubernetes() {
    if (!options_.kubernetes) return;
    kubernetes_ = std::make_unique<KubernetesSource>(*options_.kubernetes, *kube_endpoint_, *control_plane_);
    kubernetes_->start();
}

// Like the API: an address it cannot take is reported, and the gateway forwards without metrics.
void Daemon::start_metrics(const std::vector<WorkerContext*>& workers) {
    if (options_.metrics_address.empty()) {
        spdlog::info("metrics endpoint disabled (--metrics-address \"\")");
        return;
    }
    metrics_ = std::make_unique<MetricsExporter>(MetricsSources{
        workers, ports_, *control_plane_, *publisher_, *reporter_, *update_metrics_, options_.metrics_endpoints,
        kubernetes_.get(), announcer_.get(), &neighbor_counts_, &router_advertisements_});
    try {
        metrics_->start(options_.metrics_address);
        spdlog::info("metrics at http://{}/metrics{}", metrics_->listening_address(),
                     options_.metrics_endpoints ? " (with per-endpoint series)" : "");
    } catch (const std::exception& error) {
        spdlog::error("metrics endpoint not started: {}; forwarding goes on without it", error.what());
        metrics_.reset();
    }
}

int Daemon::run() {
    started_at_ = std::chrono::steady_clock::now();
    // First thing: a signal during start-up is acted on by the control loop, not fatal.
    install_signal_handlers();
    if (options_.kubernetes) kube_endpoint_ = kubernetes_endpoint(*options_.kubernetes);
    start_eal();
    const auto worker_count = static_cast<uint16_t>(running_.dataplane.worker_lcores.size());
    ports_ = start_ports(running_, worker_count);
    neighbors_ = std::make_unique<NeighborTable>();
    control_tx_ring_ = rte_ring_create("vipgate_control_tx", kPuntRingSize, SOCKET_ID_ANY, RING_F_SC_DEQ);
    if (control_tx_ring_ == nullptr) throw std::runtime_error("cannot create the control TX ring");
    resolver_ = std::make_unique<NeighborResolver>(*neighbors_, ports_, control_tx_ring_);
    resolver_->set_static(static_neighbors(running_));
    neighbors6_ = std::make_unique<NeighborTable6>();
    discovery_ = std::make_unique<NeighborDiscovery>(*neighbors6_, ports_, control_tx_ring_);
    if (KernelPath::wanted(running_))
        kernel_path_ =
            std::make_unique<KernelPath>(running_, ports_, *neighbors_, *resolver_, *neighbors6_, *discovery_);
    if (RouteAnnouncer::wanted(running_)) announcer_ = std::make_unique<RouteAnnouncer>(running_);
    publisher_ = std::make_unique<Publisher>(worker_count);
    std::vector<PortIdentity> identities;
    for (const auto& port : ports_) identities.push_back(PortIdentity{port.port_id, 0, port.mac, 0, port.mtu});
    builder_ = std::make_unique<SnapshotBuilder>(worker_count, identities);
    builder_->set_readers(publisher_->qsbr());
    builder_->set_build_cpus(control_cpus_);
    spdlog::info("large updates build their Maglev tables on {} control CPU(s) (the CPUs no worker polls)",
                 std::max<size_t>(1, control_cpus_.size()));
    control_plane_ = std::make_unique<ControlPlane>(
        running_, *builder_, [this](std::unique_ptr<Snapshot> snapshot) { return publish(std::move(snapshot)); });
    control_plane_->set_in_use_wait([this](uint64_t generation) { return wait_in_use(generation); });
    spdlog::info("generation {} published: {} service ports ({})", publisher_->current()->generation,
                 builder_->last_statistics().service_ports, running_.source);
    steer_snat_replies();
    create_workers();
    std::vector<WorkerContext*> contexts;
    for (auto& worker : workers_) contexts.push_back(worker.get());
    reporter_ = std::make_unique<StatsReporter>(contexts);
    reporter_->note_snapshot(*publisher_->current());
    observe_updates();
    launch_workers();
    start_kubernetes();
    api_backend_.reset(new ApiBackend{*control_plane_, *publisher_, *reporter_, contexts});
    api_backend_->kubernetes = kubernetes_.get();
    api_backend_->announcer = announcer_.get();
    api_backend_->neighbors = &neighbor_counts_;
    api_backend_->router_advertisements = &router_advertisements_;
    for (const PortRuntime& port : ports_) api_backend_->ports.push_back({port.name, port.port_id});
    publish_telemetry();
    start_metrics(contexts);
    start_api();
    spdlog::info("{} worker(s) running, {} NAT; SIGHUP reloads, SIGINT/SIGTERM stops", workers_.size(),
                 running_.dataplane.nat_mode == config::NatMode::FullNat ? "full" : "destination-only");
    control_loop();
    withdraw_announcements();
    metrics_.reset();
    stop_api();
    kubernetes_.reset();
    join_reload();
    stop_workers();
    report_final();
    return 0;
}

Daemon::~Daemon() {
    metrics_.reset();     // before the state it reads
    stop_api();           // before the state it serves
    kubernetes_.reset();  // before the control plane it changes
    join_reload();
    stop_workers();
    for (rte_ring* ring : {punt_ring_, control_tx_ring_}) {
        rte_mbuf* packet;
        while (ring != nullptr && rte_ring_sc_dequeue(ring, reinterpret_cast<void**>(&packet)) == 0) {
            rte_pktmbuf_free(packet);
        }
    }
    announcer_.reset();
    kernel_path_.reset();  // before the resolver it holds through, and the port pools its taps use
    resolver_.reset();
    discovery_.reset();
    for (auto& worker : workers_) {
        rte_ring* ring = worker->handoff_rings[worker->worker_index];
        rte_mbuf* packet;
        while (ring != nullptr && rte_ring_sc_dequeue(ring, reinterpret_cast<void**>(&packet)) == 0) {
            rte_pktmbuf_free(packet);
        }
        rte_ring_free(ring);
        ConnTable::destroy(worker->connections);
        ConnTable6::destroy(worker->connections6);
        AffinityTable6::destroy(worker->affinity6);
        AffinityTable::destroy(worker->affinity);
        rte_free(worker->endpoint_counters);
        rte_free(worker->endpoint_handshakes);
        rte_free(worker->service_port_refusals);
        DnsRateLimiter::destroy(worker->dns_rate_limiter);
    }
    workers_.clear();
    rte_ring_free(punt_ring_);
    rte_ring_free(control_tx_ring_);
    control_plane_.reset();
    // The builder first: its hash tables hand positions back through the publisher's QSBR
    // variable, and it holds the shared route table (DPDK memory, freed before the EAL goes).
    builder_.reset();
    publisher_.reset();
    steering_.clear();
    stop_ports(ports_);
    disable_packet_capture();
    if (eal_started_) rte_eal_cleanup();
}

// Why these malloc settings: a large or deep API request is served on a thread of its own, and
// glibc gives such threads arenas of their own; malloc_trim returns the free top of the main
// arena only, so the ~45 MiB a million-deep JSON request had freed stayed in RSS. One arena
// (the control plane's threads seldom allocate at once; the workers never do) lets the API's
// malloc_trim return everything. Fixed thresholds also turn off glibc's dynamic ones, which
// after one large free would keep up to 64 MiB at the top of the heap: blocks of 1 MiB and more
// are mapped and unmapped on their own.
void return_freed_memory_to_the_kernel() {
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
}

}  // namespace

int run_daemon(const DaemonOptions& options) {
    return_freed_memory_to_the_kernel();
    config::LoadResult loaded =
        options.config_path.empty()
            ? config::load_config_string(config::embedded_default_config(), "<embedded default>")
            : config::load_config_file(options.config_path);
    if (!loaded.errors.empty()) {
        for (const auto& error : loaded.errors) spdlog::error("{}", error.to_string());
        spdlog::error("{} error(s); vipgate did not start", loaded.errors.size());
        return 2;
    }
    try {
        Daemon daemon(options, std::move(*loaded.config));
        return daemon.run();
    } catch (const std::exception& error) {
        spdlog::error("{}", error.what());
        return 1;
    }
}

}  // namespace vipgate
