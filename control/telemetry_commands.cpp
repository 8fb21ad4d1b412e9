#include "control/telemetry_commands.h"

#include <rte_telemetry.h>

#include <cerrno>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "control/stats_reporter.h"
#include "control/table_fill.h"
#include "dataplane/conn_table.h"
#include "dataplane/counters.h"

namespace vipgate {
namespace {

using nlohmann::json;

std::mutex backend_mutex;
ApiBackend* current_backend = nullptr;

// Telemetry dictionaries hold at most RTE_TEL_MAX_DICT_ENTRIES; one is kept for "omitted".
constexpr size_t kMaxListedEntries = RTE_TEL_MAX_DICT_ENTRIES - 1;

// Runs `fill` with the daemon's backend; -EAGAIN when no daemon is running (telemetry answers
// the command with null), -ENOMEM when building the answer failed.
template <typename Fill>
int answer(Fill fill) {
    const std::lock_guard<std::mutex> lock(backend_mutex);
    if (current_backend == nullptr) return -EAGAIN;
    try {
        return fill(*current_backend);
    } catch (const std::exception&) {
        return -ENOMEM;
    }
}

// Telemetry takes dictionary keys of [A-Za-z0-9_/] only; "default/my-web:80" is listed as
// "default/my_web_80", with the name as written in the entry's "service".
std::string telemetry_key(const std::string& name) {
    std::string key = name;
    for (char& c : key) {
        const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/';
        if (!allowed) c = '_';
    }
    return key;
}

json stats_answer(ApiBackend& backend) {
    return handle_api_request(json{{"op", "get"}, {"resource", "stats"}}, backend);
}

int stats_command(const char*, const char*, rte_tel_data* data) {
    return answer([&](ApiBackend& backend) {
        const json stats = stats_answer(backend);
        rte_tel_data_start_dict(data);
        rte_tel_data_add_dict_u64(data, "generation", stats.value("generation", uint64_t{0}));
        for (const auto& [name, value] : stats.at("counters").items()) {
            rte_tel_data_add_dict_u64(data, name.c_str(), value.get<uint64_t>());
        }
        for (const auto& [reason, value] : stats.at("drops").items()) {
            rte_tel_data_add_dict_u64(data, ("drop_" + reason).c_str(), value.get<uint64_t>());
        }
        return 0;
    });
}

int services_command(const char*, const char* params, rte_tel_data* data) {
    const std::string prefix = params == nullptr ? "" : params;
    return answer([&](ApiBackend& backend) {
        const json stats = stats_answer(backend);
        rte_tel_data_start_dict(data);
        uint64_t omitted = 0;
        size_t listed = 0;
        for (const json& service : stats.at("services")) {
            const std::string name = service.at("service").get<std::string>();
            if (name.compare(0, prefix.size(), prefix) != 0) continue;
            if (listed == kMaxListedEntries) {
                ++omitted;
                continue;
            }
            rte_tel_data* entry = rte_tel_data_alloc();
            if (entry == nullptr) return -ENOMEM;
            rte_tel_data_start_dict(entry);
            rte_tel_data_add_dict_string(entry, "service", name.c_str());
            rte_tel_data_add_dict_string(entry, "vip", service.at("vip").get<std::string>().c_str());
            rte_tel_data_add_dict_string(entry, "protocol", service.at("protocol").get<std::string>().c_str());
            for (const char* field : {"connections", "packets", "bytes"}) {
                rte_tel_data_add_dict_u64(entry, field, service.at(field).get<uint64_t>());
            }
            if (rte_tel_data_add_dict_container(data, telemetry_key(name).c_str(), entry, 0) != 0) {
                rte_tel_data_free(entry);
                ++omitted;
                continue;
            }
            ++listed;
        }
        if (omitted != 0) rte_tel_data_add_dict_u64(data, "omitted", omitted);
        return 0;
    });
}

int workers_command(const char*, const char*, rte_tel_data* data) {
    return answer([&](ApiBackend& backend) {
        rte_tel_data_start_dict(data);
        for (const WorkerContext* worker : backend.workers) {
            rte_tel_data* entry = rte_tel_data_alloc();
            if (entry == nullptr) return -ENOMEM;
            rte_tel_data_start_dict(entry);
            const WorkerCounters counters = sum_counters({const_cast<WorkerContext*>(worker)});
            for (const CounterField& field : kCounterFields) {
                rte_tel_data_add_dict_u64(entry, std::string(field.name).c_str(), counters.*field.member);
            }
            uint64_t drops = 0;
            for (uint64_t count : counters.drops) drops += count;
            rte_tel_data_add_dict_u64(entry, "drops", drops);
            const FamilyFill conntrack = connection_table_fill(*worker);
            for (size_t family = 0; family < kAddressFamilies.size(); ++family) {
                const std::string prefix = std::string("conntrack_") + kAddressFamilies[family];
                rte_tel_data_add_dict_u64(entry, (prefix + "_entries").c_str(), conntrack[family].entries);
                rte_tel_data_add_dict_u64(entry, (prefix + "_capacity").c_str(), conntrack[family].capacity);
            }
            if (rte_tel_data_add_dict_container(data, std::to_string(worker->worker_index).c_str(), entry, 0) != 0) {
                rte_tel_data_free(entry);
            }
        }
        return 0;
    });
}

bool register_commands() {
    struct Command {
        const char* name;
        telemetry_cb callback;
        const char* help;
    };
    static const Command commands[] = {
        {"/vipgate/stats", stats_command, "vipgate counters summed over the workers, drops by reason. No parameters"},
        {"/vipgate/services", services_command,
         "Per service port: VIP, protocol, connections, packets, bytes. Parameter: a namespace/name prefix"},
        {"/vipgate/workers", workers_command,
         "Per worker: counters and connection-table fill by family (ipv4, ipv6). No parameters"},
    };
    bool all = true;
    for (const Command& command : commands) {
        all = rte_telemetry_register_cmd(command.name, command.callback, command.help) == 0 && all;
    }
    return all;
}

}  // namespace

bool publish_telemetry_commands(ApiBackend& backend) {
    static const bool registered = register_commands();
    const std::lock_guard<std::mutex> lock(backend_mutex);
    current_backend = &backend;
    return registered;
}

void withdraw_telemetry_commands() {
    const std::lock_guard<std::mutex> lock(backend_mutex);
    current_backend = nullptr;
}

}  // namespace vipgate
