#include <gtest/gtest.h>

#include <iterator>
#include <sstream>

#include "tools/vipctl/resource_tables.h"
#include "tools/vipctl/response_output.h"
#include "tools/vipctl/table.h"

namespace vipgate::vipctl {
namespace {

using nlohmann::json;

struct Printed {
    std::string out;
    std::string err;
};

template <typename Print>
Printed print(Print function, const json& response, TableOptions options) {
    std::ostringstream out, err;
    function(response, options, out, err);
    return {out.str(), err.str()};
}

const TableOptions kInDefault{std::string("default"), false};
const TableOptions kAllNamespaces{std::nullopt, false};
const TableOptions kWide{std::string("default"), true};

json web_service() {
    return {{"namespace", "default"},
            {"name", "web"},
            {"cluster_ip", "198.18.128.10"},
            {"ports",
             {{{"name", "http"}, {"protocol", "TCP"}, {"port", 80}, {"target_port", "8080"}},
              {{"name", "https"}, {"protocol", "TCP"}, {"port", 443}, {"target_port", "https"}}}},
            {"selector", {{"app", "web"}, {"tier", "front"}}},
            {"session_affinity", "None"},
            {"affinity_timeout_s", 10800},
            {"endpoints_ready", 3},
            {"endpoints_total", 4},
            {"source", "kubernetes"}};
}

json dns_service() {
    return {{"namespace", "kube-system"},
            {"name", "kube-dns"},
            {"cluster_ip", "None"},
            {"ports", {{{"name", "dns"}, {"protocol", "UDP"}, {"port", 53}, {"target_port", "53"}}}},
            {"selector", nullptr},
            {"session_affinity", "ClientIP"},
            {"affinity_timeout_s", 600},
            {"endpoints_ready", 0},
            {"endpoints_total", 0},
            {"source", "file"}};
}

json endpoint(const std::string& address, bool ready = true, bool terminating = false, int weight = 1) {
    return {{"address", address}, {"port", 8080},   {"port_name", "http"},
            {"protocol", "TCP"},  {"ready", ready}, {"terminating", terminating},
            {"weight", weight},   {"pod", nullptr}};
}

TEST(VipctlTable, ColumnsAlignWithThreeSpacesAndNoTrailingBlanks) {
    Table table({"NAME", "IP", "LABELS"});
    table.add_row({"web-1", "198.19.1.10", "app=web"});
    table.add_row({"a", "", ""});
    table.add_row({"überlang", "1.2.3.4", "x"});  // widths count characters, not UTF-8 bytes
    EXPECT_EQ(table.render(),
              "NAME       IP            LABELS\n"
              "web-1      198.19.1.10   app=web\n"
              "a\n"
              "überlang   1.2.3.4       x\n");
    EXPECT_THROW(table.add_row({"too", "few"}), std::logic_error);
}

TEST(VipctlServices, TableInOneNamespace) {
    const Printed printed = print(print_services, {{"ok", true}, {"items", {web_service()}}}, kInDefault);
    EXPECT_EQ(
        printed.out,
        "NAME   TYPE        CLUSTER-IP      PORT(S)          ENDPOINTS   SELECTOR             AFFINITY   SOURCE\n"
        "web    ClusterIP   198.18.128.10   80/TCP,443/TCP   3/4         app=web,tier=front   None       kubernetes\n");
    EXPECT_EQ(printed.err, "");
}

TEST(VipctlServices, DualStackListsEveryClusterIpAndNotesIpv6IsNotServed) {
    json service = web_service();
    service["cluster_ip"] = "2001:db8:1::a";
    service["cluster_ips"] = {"2001:db8:1::a", "198.18.128.10"};
    service["ip_families"] = {"IPv6", "IPv4"};
    service["ipv6"] = "not served: no port has an IPv6 address";
    const Printed printed = print(print_services, {{"ok", true}, {"items", {service, web_service()}}}, kInDefault);
    EXPECT_NE(printed.out.find("web    ClusterIP   2001:db8:1::a,198.18.128.10   80/TCP,443/TCP"), std::string::npos)
        << printed.out;
    EXPECT_EQ(printed.err,
              "note: 1 service(s) have an IPv6 cluster IP that is not served: no port has an IPv6 address\n");
}

TEST(VipctlServices, ServedIpv6NeedsNoNote) {
    json service = web_service();
    service["cluster_ips"] = {"198.18.128.10", "2001:db8:1::a"};
    service["ipv6"] = "served";
    const Printed printed = print(print_services, {{"ok", true}, {"items", {service}}}, kInDefault);
    EXPECT_EQ(printed.err, "");
}

TEST(VipctlServices, AllNamespacesAddANamespaceColumn) {
    const Printed printed =
        print(print_services, {{"ok", true}, {"items", {web_service(), dns_service()}}}, kAllNamespaces);
    EXPECT_EQ(printed.out,
              "NAMESPACE     NAME       TYPE        CLUSTER-IP      PORT(S)          ENDPOINTS   SELECTOR             "
              "AFFINITY        SOURCE\n"
              "default       web        ClusterIP   198.18.128.10   80/TCP,443/TCP   3/4         app=web,tier=front   "
              "None            kubernetes\n"
              "kube-system   kube-dns   Headless    None            53/UDP           0/0         <none>               "
              "ClientIP:600s   file\n");
}

TEST(VipctlServices, WideShowsTargetPorts) {
    const Printed printed = print(print_services, {{"ok", true}, {"items", {web_service()}}}, kWide);
    EXPECT_NE(printed.out.find("PORT(S)          TARGET-PORT(S)   ENDPOINTS"), std::string::npos) << printed.out;
    EXPECT_NE(printed.out.find("80/TCP,443/TCP   8080,https       3/4"), std::string::npos) << printed.out;
}

TEST(VipctlServices, NothingFoundGoesToStderr) {
    Printed printed = print(print_services, {{"ok", true}, {"items", json::array()}}, kInDefault);
    EXPECT_EQ(printed.out, "");
    EXPECT_EQ(printed.err, "No resources found in default namespace.\n");
    printed = print(print_services, {{"ok", true}, {"items", json::array()}}, kAllNamespaces);
    EXPECT_EQ(printed.err, "No resources found.\n");
}

TEST(VipctlEndpoints, TruncatesLikeKubectlUnlessWide) {
    json item = {
        {"namespace", "default"},
        {"name", "web"},
        {"selector", {{"app", "web"}}},
        {"matched_pods", 5},
        {"endpoints", json::array()},
        {"source", "kubernetes"},
        {"slices", {{{"name", "web-1"}, {"source", "kubernetes"}}, {{"name", "web-2"}, {"source", "kubernetes"}}}}};
    for (int i = 10; i < 15; ++i) item["endpoints"].push_back(endpoint("198.19.1." + std::to_string(i)));
    const json response = {{"ok", true}, {"items", {item}}};
    EXPECT_EQ(print(print_endpoints, response, kInDefault).out,
              "NAME   ENDPOINTS                                                        SOURCE\n"
              "web    198.19.1.10:8080,198.19.1.11:8080,198.19.1.12:8080 + 2 more...   kubernetes\n");
    EXPECT_EQ(print(print_endpoints, response, kWide).out,
              "NAME   ENDPOINTS                                                                              SOURCE\n"
              "web    198.19.1.10:8080,198.19.1.11:8080,198.19.1.12:8080,198.19.1.13:8080,198.19.1.14:8080   "
              "kubernetes\n");
}

TEST(VipctlEndpoints, NoneWithAHintWhenTheSelectorMatchesNothing) {
    const json web = {{"namespace", "default"},
                      {"name", "web"},
                      {"selector", {{"app", "web"}}},
                      {"matched_pods", 0},
                      {"endpoints", json::array()}};
    const json api = {{"namespace", "shop"},
                      {"name", "api"},
                      {"selector", {{"app", "api"}}},
                      {"matched_pods", 3},
                      {"endpoints",
                       {endpoint("198.19.2.1"), endpoint("198.19.2.2", false), endpoint("198.19.2.3", true, true),
                        endpoint("198.19.2.4", true, false, 0)}},
                      {"source", "file"},
                      {"slices", {{{"name", "api-1"}, {"source", "kubernetes"}}}}};
    const json manual = {{"namespace", "shop"},     {"name", "legacy"},           {"selector", nullptr},
                         {"matched_pods", nullptr}, {"endpoints", json::array()}, {"source", "vipctl"}};
    const Printed printed = print(print_endpoints, {{"ok", true}, {"items", {web, api, manual}}}, kAllNamespaces);
    EXPECT_EQ(
        printed.out,
        "NAMESPACE   NAME     ENDPOINTS         SOURCE                            NOTES\n"
        "default     web      <none>            -                                 selector app=web matches no pods\n"
        "shop        api      198.19.2.1:8080   file service, kubernetes slices   1 not ready; 1 terminating; 1 "
        "drained\n"
        "shop        legacy   <none>            vipctl                            no selector and no EndpointSlice\n");
}

TEST(VipctlEndpoints, SameAddressAndPortListedOnce) {
    json item = {{"namespace", "default"},
                 {"name", "web"},
                 {"selector", nullptr},
                 {"matched_pods", nullptr},
                 {"endpoints", {endpoint("198.19.1.10"), endpoint("198.19.1.10")}}};
    EXPECT_EQ(print(print_endpoints, {{"ok", true}, {"items", {item}}}, kInDefault).out,
              "NAME   ENDPOINTS          SOURCE\n"
              "web    198.19.1.10:8080   -\n");
}

TEST(VipctlPods, StatusFromTerminatingAndWeight) {
    auto pod = [](const std::string& name, const json& address, bool ready, bool terminating, int weight) {
        return json{{"namespace", "default"}, {"name", name},
                    {"address", address},     {"labels", {{"app", "web"}}},
                    {"ready", ready},         {"terminating", terminating},
                    {"weight", weight},       {"ports", {{{"name", "http"}, {"protocol", "TCP"}, {"port", 8080}}}}};
    };
    const json response = {{"ok", true},
                           {"items",
                            {pod("web-1", "198.19.1.10", true, false, 1), pod("web-2", nullptr, false, false, 1),
                             pod("web-3", "198.19.1.12", true, true, 1), pod("web-4", "198.19.1.13", true, false, 0)}}};
    EXPECT_EQ(print(print_pods, response, kInDefault).out,
              "NAME    IP            READY   STATUS        LABELS\n"
              "web-1   198.19.1.10   True    Running       app=web\n"
              "web-2   <none>        False   Running       app=web\n"
              "web-3   198.19.1.12   True    Terminating   app=web\n"
              "web-4   198.19.1.13   True    Drained       app=web\n");
    EXPECT_NE(print(print_pods, response, kWide).out.find("app=web   0        http:8080/TCP"), std::string::npos);
}

TEST(VipctlConntrack, TableAndTruncationNote) {
    const json response = {{"ok", true},
                           {"items",
                            {{{"worker", 1},
                              {"protocol", "TCP"},
                              {"client", "198.19.0.5:40000"},
                              {"vip", "198.18.128.10:80"},
                              {"endpoint", "198.19.1.10:8080"},
                              {"snat", "198.18.0.2:1030"},
                              {"state", "established"},
                              {"expires_in_ms", 899000}},
                             {{"worker", 0},
                              {"protocol", "UDP"},
                              {"client", "198.19.0.6:5353"},
                              {"vip", "198.18.128.53:53"},
                              {"endpoint", "198.19.1.20:53"},
                              {"snat", nullptr},
                              {"state", "udp"},
                              {"expires_in_ms", 4200}}}},
                           {"truncated", true}};
    const Printed printed = print(print_conntrack, response, kAllNamespaces);
    EXPECT_EQ(printed.out,
              "PROTO   CLIENT             VIP                ENDPOINT           SNAT              STATE         "
              "EXPIRES\n"
              "TCP     198.19.0.5:40000   198.18.128.10:80   198.19.1.10:8080   198.18.0.2:1030   established   "
              "14m59s\n"
              "UDP     198.19.0.6:5353    198.18.128.53:53   198.19.1.20:53     <none>            udp           4s\n");
    EXPECT_EQ(printed.err, "(listing truncated at 2 connections; --limit N shows more)\n");
    EXPECT_EQ(print(print_conntrack, response, {std::nullopt, true}).out.rfind("WORKER   PROTO", 0), 0u);
}

TEST(VipctlConntrack, Durations) {
    EXPECT_EQ(duration_text(0), "0s");
    EXPECT_EQ(duration_text(59999), "59s");
    EXPECT_EQ(duration_text(60000), "1m0s");
    EXPECT_EQ(duration_text(7322000), "2h2m");
    EXPECT_EQ(duration_text(90000000), "1d1h");
}

TEST(VipctlStats, CountersNonZeroDropsTablesByFamilyAndServices) {
    const json response = {
        {"ok", true},
        {"generation", 12},
        {"counters", {{"rx_packets", 1000}, {"tx_packets", 990}}},
        {"drops", {{"no_service", 7}, {"bad_checksum", 0}}},
        {"services",
         {{{"service", "default/web:http"},
           {"vip", "198.18.128.10:80"},
           {"protocol", "TCP"},
           {"connections", 3},
           {"packets", 900},
           {"bytes", 64000},
           {"refusals", 2}}}},
        {"tables",
         {{"conntrack",
           {{"ipv4", {{"entries", 3}, {"capacity", 65536}}}, {"ipv6", {{"entries", 24}, {"capacity", 16384}}}}},
          {"affinity",
           {{"ipv4", {{"entries", 0}, {"capacity", 131072}}}, {"ipv6", {{"entries", 2}, {"capacity", 0}}}}}}},
        {"last_update", {{"validate_us", 812}, {"build_us", 95}, {"publish_us", 40}}}};
    const Printed printed = print(print_stats, response, kAllNamespaces);
    EXPECT_EQ(printed.out,
              "COUNTER            VALUE\n"
              "generation         12\n"
              "rx_packets         1000\n"
              "tx_packets         990\n"
              "drops.no_service   7\n"
              "\n"
              "last update: validated in 0.81 ms, built in 0.10 ms, published in 0.04 ms\n"
              "\n"
              "TABLE       FAMILY   ENTRIES   CAPACITY\n"
              "conntrack   ipv4     3         65536\n"
              "conntrack   ipv6     24        16384\n"
              "affinity    ipv4     0         131072\n"
              "affinity    ipv6     2         0\n"
              "\n"
              "SERVICE            VIP                PROTO   CONNECTIONS   PACKETS   BYTES   REFUSED\n"
              "default/web:http   198.18.128.10:80   TCP     3             900       64000   2\n");
    EXPECT_NE(print(print_stats, response, {std::nullopt, true}).out.find("drops.bad_checksum   0"), std::string::npos);
}

TEST(VipctlAnnouncements, RoutesAndDrainState) {
    json response = {{"ok", true},
                     {"enabled", true},
                     {"interface", "vg-p0"},
                     {"table", 100},
                     {"routes", {"198.18.100.10/32"}},
                     {"announced_vips", 1},
                     {"added", 3},
                     {"removed", 2},
                     {"failures", 0},
                     {"last_error", ""},
                     {"drained", false}};
    std::ostringstream out;
    print_announcements(response, out);
    EXPECT_EQ(out.str(),
              "announced: 1 VIPs, 1 routes in table 100 via vg-p0 (added 3, removed 2, refused 0)\n"
              "gateway serving (not drained)\n"
              "ROUTE\n"
              "198.18.100.10/32\n");
    response["routes"] = json::array();
    response["announced_vips"] = 0;
    response["drained"] = true;
    response["drain"] = {{"seconds", 75.5}, {"open_connections", 12}, {"deadline_s", 60}, {"deadline_passed", true}};
    std::ostringstream drained;
    print_announcements(response, drained);
    EXPECT_EQ(drained.str(),
              "announced: 0 VIPs, 0 routes in table 100 via vg-p0 (added 3, removed 2, refused 0)\n"
              "gateway DRAINED for 1m15s: 12 connections still open, deadline 60 s PASSED\n");
    std::ostringstream off;
    print_announcements({{"ok", true}, {"enabled", false}}, off);
    EXPECT_NE(off.str().find("announcing is off"), std::string::npos);
}

TEST(VipctlRoutes, StaticAndLearntRoutesWithOriginAndLifetime) {
    const json response = {{"ok", true},
                           {"routes",
                            {{{"prefix", "198.19.0.0/16"},
                              {"via", "198.18.0.254"},
                              {"port", "p0"},
                              {"origin", "static"},
                              {"installed", true}},
                             {{"prefix", "::/0"},
                              {"via", "fe80::1"},
                              {"port", "p0"},
                              {"origin", "router-advertisement"},
                              {"installed", false},
                              {"preference", "high"},
                              {"lifetime_s", 1795}}}}};
    std::ostringstream out;
    print_routes(response, out);
    std::istringstream lines(out.str());
    std::vector<std::vector<std::string>> rows;
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        rows.emplace_back(std::istream_iterator<std::string>(words), std::istream_iterator<std::string>());
    }
    ASSERT_EQ(rows.size(), 3u) << out.str();
    EXPECT_EQ(rows[0],
              (std::vector<std::string>{"PREFIX", "VIA", "PORT", "ORIGIN", "INSTALLED", "PREFERENCE", "LIFETIME"}));
    EXPECT_EQ(rows[1],
              (std::vector<std::string>{"198.19.0.0/16", "198.18.0.254", "p0", "static", "yes", "<none>", "<none>"}));
    EXPECT_EQ(rows[2],
              (std::vector<std::string>{"::/0", "fe80::1", "p0", "router-advertisement", "no", "high", "1795s"}));
    std::ostringstream none;
    print_routes({{"ok", true}, {"routes", json::array()}}, none);
    EXPECT_NE(none.str().find("no routes"), std::string::npos);
}

TEST(VipctlResults, KubectlLinesAndTiming) {
    const json response = {{"ok", true},
                           {"results",
                            {{{"kind", "service"}, {"namespace", "default"}, {"name", "web"}, {"action", "created"}},
                             {{"kind", "pod"}, {"namespace", "default"}, {"name", "web-1"}, {"action", "unchanged"}}}},
                           {"generation", 12},
                           {"timing_us", {{"validate", 812}, {"build", 95}, {"publish", 130}}}};
    EXPECT_EQ(result_lines(response),
              "service/web created\n"
              "pod/web-1 unchanged\n"
              "(generation 12, validated in 0.81 ms, built in 0.10 ms, published in 0.13 ms)\n");
}

TEST(VipctlErrors, FileLineColumnFieldMessageWithUnknownPartsLeftOut) {
    EXPECT_EQ(error_line({{"source", "web.yaml"},
                          {"line", 3},
                          {"column", 5},
                          {"field", "spec.ports[0].port"},
                          {"message", "must be 1-65535"}}),
              "web.yaml:3:5: spec.ports[0].port: must be 1-65535");
    EXPECT_EQ(error_line({{"source", "web.yaml"}, {"line", 3}, {"message", "bad"}}), "web.yaml:3: bad");
    EXPECT_EQ(error_line({{"source", "web.yaml"}, {"message", "bad"}}), "web.yaml: bad");
    EXPECT_EQ(error_line({{"field", "metadata.name"}, {"message", "bad"}}), "metadata.name: bad");
    EXPECT_EQ(error_line({{"message", "bad"}}), "bad");
}

TEST(VipctlResponses, ExitStatusAndWhereTextGoes) {
    CommandLine apply;
    apply.verb = Verb::Apply;
    std::ostringstream out, err;
    const json refused = {{"ok", false},
                          {"error", "2 errors in web.yaml"},
                          {"errors",
                           {{{"source", "web.yaml"},
                             {"line", 3},
                             {"column", 5},
                             {"field", "spec.ports[0].port"},
                             {"message", "must be 1-65535"}},
                            {{"source", "web.yaml"}, {"message", "no kind"}}}}};
    EXPECT_EQ(print_response(apply, refused, out, err), kExitRefused);
    EXPECT_EQ(out.str(), "");
    EXPECT_EQ(err.str(),
              "web.yaml:3:5: spec.ports[0].port: must be 1-65535\n"
              "web.yaml: no kind\n"
              "error: 2 errors in web.yaml\n");

    CommandLine dump;
    dump.verb = Verb::Dump;
    std::ostringstream dump_out, dump_err;
    EXPECT_EQ(print_response(dump, {{"ok", true}, {"text", "[dataplane]\nworkers = 2"}}, dump_out, dump_err),
              kExitDone);
    EXPECT_EQ(dump_out.str(), "[dataplane]\nworkers = 2\n");

    CommandLine json_get;
    json_get.verb = Verb::Get;
    json_get.resource = "services";
    json_get.output = OutputFormat::Json;
    std::ostringstream json_out, json_err;
    const json answer = {{"ok", true}, {"items", {web_service()}}};
    EXPECT_EQ(print_response(json_get, answer, json_out, json_err), kExitDone);
    EXPECT_EQ(json::parse(json_out.str()), answer);
}

}  // namespace
TEST(VipctlStats, KubernetesSourceState) {
    const json response = {{"ok", true},
                           {"generation", 7},
                           {"counters", {{"rx_packets", 1}}},
                           {"kubernetes",
                            {{"server", "https://198.18.0.10:6443"},
                             {"connected", false},
                             {"last_error", "services: connection refused"},
                             {"services", {{"objects", 3}}},
                             {"endpointslices", {{"objects", 4}}},
                             {"events", 10007},
                             {"lists", 4},
                             {"gone", 2},
                             {"reconnects", 5},
                             {"syncs", 9},
                             {"publications", 8},
                             {"rejected", 1},
                             {"shadowed", 1},
                             {"skipped", 1},
                             {"sync_delay_ms", {{"last", 10.25}, {"mean", 420.0}, {"max", 1014.8}}}}}};
    const Printed printed = print(print_stats, response, kInDefault);
    EXPECT_NE(printed.out.find("kubernetes https://198.18.0.10:6443: DISCONNECTED (serving the last state)\n"
                               "  services 3, endpointslices 4; events 10007, lists 4 (410 Gone 2), errors 5\n"
                               "  syncs 9 (8 published), refused 1, shadowed by local objects 1, filtered 1\n"
                               "  event to publication: last 10.2 ms, mean 420.0 ms, max 1014.8 ms\n"
                               "  last error: services: connection refused\n"),
              std::string::npos)
        << printed.out;
    EXPECT_EQ(print(print_stats, {{"ok", true}, {"generation", 1}}, kInDefault).out.find("kubernetes"),
              std::string::npos);
}

}  // namespace vipgate::vipctl
