// libFuzzer target: control API requests, from the request line to the answer's text, with the
// daemon's real handler (handle_api_request) on a real ControlPlane, SnapshotBuilder, Publisher
// and StatsReporter over two idle workers: a small cluster of pods, selector services and an
// EndpointSlice, and a few tracked connections for `get conntrack`.
//
// Input: up to kMaxRequests request lines separated by '\n', answered in order on one backend
// (apply then get, drain then dump, ...), each as ApiServer::answer and serve_connection do it.
// Every input starts from the same state: the backend is built once (its route table alone is
// 64 MiB to clear) and each input first reloads the initial configuration, as SIGHUP would,
// which undoes whatever the previous input applied, deleted or drained.
// The server has no ports, so `capture` is refused before it touches a device.
//
// Properties: no crash, no leak; every answer is an object with a boolean "ok", a refusal
// carries a string "error", and the answer serialises (invalid UTF-8 replaced, as the server
// writes it).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rte_byteorder.h>
#include <spdlog/spdlog.h>

#include "config/config.h"
#include "control/api_handlers.h"
#include "control/api_server.h"
#include "control/control_plane.h"
#include "control/publisher.h"
#include "control/snapshot_builder.h"
#include "control/stats_reporter.h"
#include "dataplane/conn_table.h"
#include "dataplane/worker_context.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_eal.h"

namespace vipgate::fuzz {
namespace {

constexpr size_t kMaxRequests = 8;
constexpr uint16_t kWorkers = 2;
constexpr uint32_t kConntrackCapacity = 64;
constexpr uint32_t kEndpointSlots = 256;
constexpr uint32_t kServicePortSlots = 256;

constexpr const char* kConfig = R"(
[dataplane]
worker_lcores = [1, 2]
maglev_max_table_size = 101

[conntrack]
capacity = 1024

[snat]
addresses = ["198.19.0.2"]
port_range = [40000, 40127]

[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.200.1/24"]

[[ports]]
name = "p1"
device = "net_null1"
addresses = ["198.19.0.1/24", "198.19.0.2/24"]

[cluster]
service_cidr = "198.18.128.0/20"
client_ranges = ["198.18.0.0/16"]

[[services]]
name = "web"
cluster_ip = "198.18.128.10"
selector = { app = "web" }
session_affinity = "ClientIP"
ports = [{ name = "http", protocol = "TCP", port = 80, target_port = "http" },
         { name = "dns", protocol = "UDP", port = 53, target_port = 5353 }]

[[services]]
name = "db"
namespace = "data"
ports = [{ name = "pg", protocol = "TCP", port = 5432 }]

[[services]]
name = "static"
cluster_ip = "198.18.128.12"
ports = [{ protocol = "SCTP", port = 9 }]
endpoints = [{ address = "198.19.0.30", weight = 2 }, { address = "198.19.0.31", ready = false }]

[[pods]]
name = "web-1"
address = "198.19.0.11"
labels = { app = "web" }
ports = [{ name = "http", protocol = "TCP", port = 8080 }]

[[pods]]
name = "web-2"
address = "198.19.0.12"
labels = { app = "web", tier = "canary" }
weight = 3
ports = [{ name = "http", protocol = "TCP", port = 8081 }]

[[endpoint_slices]]
name = "db-1"
namespace = "data"
service = "db"
ports = [{ name = "pg", protocol = "TCP", port = 5432 }]
endpoints = [{ address = "198.19.0.40" }, { address = "198.19.0.41", terminating = true }]
)";

struct Worker {
    WorkerContext context;
    std::vector<EndpointCounters> endpoint_counters = std::vector<EndpointCounters>(kEndpointSlots);
    std::vector<EndpointHandshakes> endpoint_handshakes = std::vector<EndpointHandshakes>(kEndpointSlots);
    std::vector<uint64_t> refusals = std::vector<uint64_t>(kServicePortSlots);

    explicit Worker(uint16_t index) {
        context.worker_index = index;
        context.worker_count = kWorkers;
        context.connections = ConnTable::create(kConntrackCapacity, 0x5eed, SOCKET_ID_ANY);
        if (context.connections == nullptr) fail("cannot create a connection table");
        context.endpoint_counters = endpoint_counters.data();
        context.endpoint_handshakes = endpoint_handshakes.data();
        context.endpoint_counter_slots = kEndpointSlots;
        context.service_port_refusals = refusals.data();
        context.service_port_slots = kServicePortSlots;
    }
    ~Worker() { ConnTable::destroy(context.connections); }
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
};

FlowKey4 flow(uint32_t source, uint16_t source_port, uint32_t destination, uint16_t destination_port) {
    FlowKey4 key;
    key.src_addr = rte_cpu_to_be_32(source);
    key.dst_addr = rte_cpu_to_be_32(destination);
    key.src_port = rte_cpu_to_be_16(source_port);
    key.dst_port = rte_cpu_to_be_16(destination_port);
    key.protocol = 6;
    return key;
}

// Everything the daemon hands the API, for one input.
struct Backend {
    config::Config settings;
    SnapshotBuilder builder;
    Publisher publisher{kWorkers};  // after the builder: its snapshots go first
    std::unique_ptr<ControlPlane> control;
    std::unique_ptr<Worker> workers[kWorkers];
    std::unique_ptr<StatsReporter> reporter;
    std::unique_ptr<ApiBackend> api;

    explicit Backend(config::Config loaded)
        : settings(std::move(loaded)),
          builder(kWorkers, {PortIdentity{0, 0, {{2, 0, 0, 0, 0, 2}}, 0}, PortIdentity{1, 0, {{2, 0, 0, 0, 0, 3}}, 0}},
                  kEndpointSlots, kServicePortSlots) {
        for (uint16_t index = 0; index < kWorkers; ++index) workers[index] = std::make_unique<Worker>(index);
        std::vector<WorkerContext*> contexts = {&workers[0]->context, &workers[1]->context};
        reporter = std::make_unique<StatsReporter>(contexts);
        control = std::make_unique<ControlPlane>(settings, builder, [this](std::unique_ptr<Snapshot> snapshot) {
            reporter->note_snapshot(*snapshot);
            publisher.publish(std::move(snapshot));
            return Publication{0};
        });
        // Two tracked connections to web (one full-NAT'd, one closing) for `get conntrack`.
        const ConnTimeouts& timeouts = publisher.current()->timeouts;
        const uint32_t vip = 0xc6128000 + 10;  // 198.18.128.10
        workers[0]->context.connections->insert(flow(0xc612000a, 40000, vip, 80),
                                                flow(0xc613000b, 8080, 0xc6130002, 40001), TcpState::Established, 1000,
                                                timeouts);
        workers[1]->context.connections->insert(flow(0xc612000b, 40002, vip, 80),
                                                flow(0xc613000c, 8081, 0xc6130002, 40070), TcpState::Closing, 1000,
                                                timeouts);
        api.reset(new ApiBackend{*control, publisher, *reporter, contexts});
    }
};

Backend* backend = nullptr;

void check_answer(const nlohmann::json& answer) {
    FUZZ_CHECK(answer.is_object(), answer.dump());
    const auto ok = answer.find("ok");
    FUZZ_CHECK(ok != answer.end() && ok->is_boolean(), answer.dump());
    if (*ok == false) {
        const auto error = answer.find("error");
        FUZZ_CHECK(error != answer.end() && error->is_string(), answer.dump());
    }
    const std::string text = answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    FUZZ_CHECK(!text.empty());
}

}  // namespace
}  // namespace vipgate::fuzz

using namespace vipgate;
using namespace vipgate::fuzz;

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** argv) {
    init_eal((*argv)[0]);
    spdlog::set_level(spdlog::level::off);  // a log line per update would cost more than the update
    config::LoadResult loaded = config::load_config_string(kConfig, "api fuzz");
    if (!loaded.config) fail("the API fuzz configuration is refused", config::describe_errors(loaded.errors));
    backend = new Backend(*loaded.config);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const UpdateOutcome reset = backend->control->reload(backend->settings);
    if (!reset.result.ok())
        fail("reloading the initial configuration failed", config::describe_errors(reset.result.errors));
    ApiServer::Limits limits;
    limits.serialize_handler = false;
    ApiServer server(
        "unused.sock", [](const nlohmann::json& request) { return handle_api_request(request, *backend->api); },
        limits);
    std::string_view input(reinterpret_cast<const char*>(data), size);
    for (size_t request = 0; request < kMaxRequests && !input.empty(); ++request) {
        const size_t end = input.find('\n');
        check_answer(server.answer(std::string(input.substr(0, end))));
        input = end == std::string_view::npos ? std::string_view{} : input.substr(end + 1);
    }
    return 0;
}
