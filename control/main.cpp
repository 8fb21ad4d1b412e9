// vipgate: command line front end of the daemon.
#include <iostream>
#include <string>

#include <spdlog/spdlog.h>
#include <boost/program_options.hpp>

#include "config/config.h"
#include "config/service_store.h"
#include "control/daemon.h"
#include "control/heap_pages.h"
#include "control/snapshot_builder.h"

namespace options = boost::program_options;

namespace {

int check_config(const std::string& path) {
    vipgate::config::LoadResult loaded =
        path.empty()
            ? vipgate::config::load_config_string(vipgate::config::embedded_default_config(), "<embedded default>")
            : vipgate::config::load_config_file(path);
    for (const auto& error : loaded.errors) std::cerr << error.to_string() << "\n";
    std::string name = path.empty() ? "<embedded default>" : path;
    if (!loaded.errors.empty()) {
        std::cerr << name << ": " << loaded.errors.size() << " error(s)\n";
        return 1;
    }
    const auto& config = *loaded.config;
    // What the daemon does next: allocate ClusterIPs and resolve selectors, named ports, slices.
    vipgate::config::ServiceStore store(config.cluster, vipgate::gateway_addresses(config),
                                        vipgate::gateway_addresses6(config));
    const vipgate::config::StoreResult stored = store.replace_all(vipgate::objects_of(config), name);
    if (!stored.ok()) {
        for (const auto& error : stored.errors) std::cerr << error.to_string() << "\n";
        std::cerr << name << ": " << stored.errors.size() << " error(s)\n";
        return 1;
    }
    size_t ports = 0;
    for (const auto& service : config.services) ports += service.ports.size();
    std::cout << name << ": OK (" << config.services.size() << " services, " << ports << " service ports, "
              << config.ports.size() << " ports, " << config.dataplane.worker_lcores.size() << " workers)\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    vipgate::put_heap_on_huge_pages(argv);
    options::options_description description(
        "vipgate: a DPDK dataplane serving ClusterIP-style virtual IPs\n\n"
        "Usage: vipgate [--config FILE] [options]\n"
        "Without --config, runs the embedded default (demo) configuration.\n\nOptions");
    std::string config_path;
    std::string log_level = "info";
    double duration = 0;
    description.add_options()("help,h", "show this help and exit")("version", "print the version and exit")(
        "config,c", options::value(&config_path), "TOML configuration file")(
        "check", options::value<std::string>()->implicit_value(""),
        "validate the configuration (--check FILE, or with --config FILE), print every error, exit non-zero if any")(
        "log-level", options::value(&log_level)->default_value("info"), "trace, debug, info, warn, error, off")(
        "duration", options::value(&duration)->default_value(0),
        "stop after this many seconds (0: run until SIGINT/SIGTERM)")(
        "show-endpoints", "print the per-endpoint spread with every summary line")(
        "api-socket", options::value<std::string>()->default_value("/run/vipgate/api.sock"),
        "Unix socket of the control API (vipctl); \"\" disables it")(
        "metrics-address", options::value<std::string>()->default_value("127.0.0.1:9431"),
        "ADDRESS:PORT of the Prometheus endpoint (/metrics); \"\" disables it")(
        "metrics-endpoints", "add per-endpoint series (one set per endpoint: mind the cardinality)")(
        "kubeconfig", options::value<std::string>(),
        "follow the Kubernetes API server of this kubeconfig (Services and EndpointSlices)")(
        "kube-context", options::value<std::string>()->default_value(""),
        "kubeconfig context (default: current-context)")(
        "kube-in-cluster", "follow the API server of the cluster vipgate runs in (service account)")(
        "kube-namespace", options::value<std::string>()->default_value(""), "follow one namespace only")(
        "kube-label-selector", options::value<std::string>()->default_value(""),
        "label selector for Services and EndpointSlices (as kubectl -l)")(
        "kube-field-selector", options::value<std::string>()->default_value(""),
        "field selector for Services and EndpointSlices (as kubectl --field-selector)")(
        "kube-proxy-name", options::value<std::string>()->default_value(""),
        "serve services labelled service.kubernetes.io/service-proxy-name=NAME (besides unlabelled ones)")(
        "kube-min-sync-ms", options::value<unsigned>()->default_value(1000),
        "at most one store transaction per this many milliseconds under a burst of changes (minSyncPeriod)");
    options::variables_map values;
    try {
        options::store(options::parse_command_line(argc, argv, description), values);
        options::notify(values);
    } catch (const options::error& error) {
        std::cerr << "vipgate: " << error.what() << "\n(try vipgate --help)\n";
        return 2;
    }
    if (values.count("help")) {
        std::cout << description << "\n";
        return 0;
    }
    if (values.count("version")) {
        std::cout << "vipgate " << VIPGATE_VERSION << "\n";
        return 0;
    }
    spdlog::level::level_enum level = spdlog::level::from_str(log_level);
    if (level == spdlog::level::off && log_level != "off") {
        std::cerr << "vipgate: unknown log level '" << log_level << "' (trace, debug, info, warn, error, off)\n";
        return 2;
    }
    spdlog::set_level(level);
    if (values.count("check")) {
        const std::string& check_path = values["check"].as<std::string>();
        return check_config(check_path.empty() ? config_path : check_path);
    }

    vipgate::DaemonOptions daemon_options;
    daemon_options.config_path = config_path;
    daemon_options.duration_seconds = duration;
    daemon_options.show_endpoints = values.count("show-endpoints") > 0;
    daemon_options.api_socket = values["api-socket"].as<std::string>();
    daemon_options.metrics_address = values["metrics-address"].as<std::string>();
    daemon_options.metrics_endpoints = values.count("metrics-endpoints") > 0;
    if (values.count("kubeconfig") || values.count("kube-in-cluster")) {
        vipgate::KubernetesOptions kubernetes;
        if (values.count("kubeconfig")) kubernetes.kubeconfig = values["kubeconfig"].as<std::string>();
        kubernetes.in_cluster = values.count("kube-in-cluster") > 0;
        if (kubernetes.in_cluster && !kubernetes.kubeconfig.empty()) {
            std::cerr << "vipgate: --kubeconfig and --kube-in-cluster exclude each other\n";
            return 2;
        }
        kubernetes.context = values["kube-context"].as<std::string>();
        kubernetes.namespace_name = values["kube-namespace"].as<std::string>();
        kubernetes.label_selector = values["kube-label-selector"].as<std::string>();
        kubernetes.field_selector = values["kube-field-selector"].as<std::string>();
        kubernetes.proxy_name = values["kube-proxy-name"].as<std::string>();
        kubernetes.min_sync = std::chrono::milliseconds(values["kube-min-sync-ms"].as<unsigned>());
        daemon_options.kubernetes = kubernetes;
    }
    return vipgate::run_daemon(daemon_options);
}
