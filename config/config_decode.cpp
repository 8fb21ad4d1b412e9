// TOML -> Config: the shape of the document. Checks unknown keys (with a "did you mean"),
// types, address syntax and the range of each single value. Rules relating several fields are
// in config_validate.cpp.
#include "config/config_internal.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace vipgate::config::detail {

namespace {

// A value in the document together with its dotted path, e.g. "services[2].ports[0].port".
struct Field {
    const toml::node& node;
    std::string path;
};

std::string_view type_name(toml::node_type type) {
    switch (type) {
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "an array";
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a floating-point number";
        case toml::node_type::boolean: return "a boolean";
        case toml::node_type::date: return "a date";
        case toml::node_type::time: return "a time";
        case toml::node_type::date_time: return "a date-time";
        case toml::node_type::none: break;
    }
    return "nothing";
}

std::string quoted(std::string_view text) {
    std::string result(1, '\'');
    result.append(text);
    return result += '\'';
}

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            diagonal = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
        }
    }
    return row[b.size()];
}

// A typo (a couple of edits) or a half-remembered name ("workers" for "worker_lcores").
bool looks_like(std::string_view unknown, std::string_view known) {
    size_t common_prefix =
        std::mismatch(unknown.begin(), unknown.end(), known.begin(), known.end()).first -
        unknown.begin();
    return edit_distance(unknown, known) <= 2 || common_prefix >= 4 ||
           (unknown.size() >= 4 && known.find(unknown) != std::string_view::npos);
}

std::string unknown_key_message(std::string_view unknown,
                                const std::vector<std::string_view>& known) {
    std::string message = std::string("unknown key ").append(quoted(unknown));
    const std::string_view* best = nullptr;
    for (const auto& candidate : known) {
        if (looks_like(unknown, candidate) &&
            (!best || edit_distance(unknown, candidate) < edit_distance(unknown, *best))) {
            best = &candidate;
        }
    }
    if (best) return message + "; did you mean " + quoted(*best) + "?";
    message += "; allowed here:";
    for (const auto& candidate : known) message.append(" ").append(candidate);
    return message;
}

// "services[0].ports" -> "services.ports", the name of a TOML [[array of tables]] header.
std::string header_name(std::string_view path) {
    std::string name;
    bool in_index = false;
    for (char c : path) {
        if (c == '[' || c == ']')
            in_index = c == '[';
        else if (!in_index)
            name += c;
    }
    return name;
}

// The keys of one TOML table. Every key the decoder asks for is known; whatever else the table
// holds is reported as unknown.
class TableFields {
public:
    TableFields(const toml::table& table, std::string path, Diagnostics& diagnostics)
        : table_(table), path_(std::move(path)), diagnostics_(diagnostics) {}

    std::optional<Field> optional(std::string_view key) {
        known_.push_back(key);
        const toml::node* node = table_.get(key);
        if (!node) return std::nullopt;
        return Field{*node, path_of(key)};
    }

    std::optional<Field> required(std::string_view key) {
        auto field = optional(key);
        if (!field) diagnostics_.reject(path_of(key), "missing required key " + quoted(key));
        return field;
    }

    void report_unknown_keys() const {
        for (const auto& [key, node] : table_) {
            if (std::find(known_.begin(), known_.end(), key.str()) != known_.end()) continue;
            diagnostics_.error_at(path_of(key.str()),
                                  {key.source().begin.line, key.source().begin.column},
                                  unknown_key_message(key.str(), known_));
        }
    }

private:
    std::string path_of(std::string_view key) const {
        return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    }

    const toml::table& table_;
    std::string path_;
    Diagnostics& diagnostics_;
    std::vector<std::string_view> known_;
};

bool is_prime(uint32_t value) {
    if (value < 2) return false;
    for (uint32_t divisor = 2; divisor * divisor <= value; ++divisor) {
        if (value % divisor == 0) return false;
    }
    return true;
}

// How an "a.b.c.d/len" string is read.
enum class PrefixForm {
    InterfaceAddress,  // length required, host bits allowed: "198.18.0.1/24"
    Network,           // length optional (/32), host bits must be zero: "198.19.0.0/16"
};

// Each value decoder reports and rejects a bad value and then leaves its output untouched.
class Decoder {
public:
    explicit Decoder(Diagnostics& diagnostics) : diagnostics_(diagnostics) {}

    void document(const toml::table& root, Config& config) {
        TableFields keys(root, "", diagnostics_);
        if (auto field = keys.optional("eal")) eal(*field, config.eal);
        if (auto field = keys.optional("dataplane")) dataplane(*field, config.dataplane);
        if (auto field = keys.optional("conntrack")) conntrack(*field, config.conntrack);
        if (auto field = keys.optional("snat")) snat(*field, config.snat);
        if (auto field = keys.optional("ports")) list(*field, config.ports, &Decoder::port);
        if (auto field = keys.optional("routes")) list(*field, config.routes, &Decoder::route);
        if (auto field = keys.optional("neighbors"))
            list(*field, config.neighbors, &Decoder::neighbor);
        if (auto field = keys.optional("services"))
            list(*field, config.services, &Decoder::service);
        keys.report_unknown_keys();
    }

private:
    // --- sections and list entries ---

    void eal(const Field& field, EalConfig& eal) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto args = keys->optional("args")) list(*args, eal.args, &Decoder::text);
        keys->report_unknown_keys();
    }

    void dataplane(const Field& field, DataplaneConfig& dataplane) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->optional("worker_lcores"))
            list(*f, dataplane.worker_lcores, &Decoder::lcore);
        if (auto f = keys->optional("nat_mode")) nat_mode(*f, dataplane.nat_mode);
        if (auto f = keys->optional("hash_seed")) integer<0, INT64_MAX>(*f, dataplane.hash_seed);
        if (auto f = keys->optional("maglev_max_table_size"))
            maglev_table_size(*f, dataplane.maglev_max_table_size);
        if (auto f = keys->optional("stats_interval_ms"))
            integer<10, 3'600'000>(*f, dataplane.stats_interval_ms);
        if (auto f = keys->optional("mbufs_per_port"))
            integer<1024, 1 << 24>(*f, dataplane.mbufs_per_port);
        if (auto f = keys->optional("rx_descriptors"))
            integer<32, 32768>(*f, dataplane.rx_descriptors);
        if (auto f = keys->optional("tx_descriptors"))
            integer<32, 32768>(*f, dataplane.tx_descriptors);
        keys->report_unknown_keys();
    }

    void conntrack(const Field& field, ConntrackConfig& conntrack) {
        constexpr int64_t kMaxTimeout = 7 * 24 * 3600;
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->optional("capacity")) integer<1024, 1 << 26>(*f, conntrack.capacity);
        if (auto f = keys->optional("tcp_syn_timeout"))
            integer<1, kMaxTimeout>(*f, conntrack.tcp_syn_timeout_s);
        if (auto f = keys->optional("tcp_established_timeout"))
            integer<1, kMaxTimeout>(*f, conntrack.tcp_established_timeout_s);
        if (auto f = keys->optional("tcp_closing_timeout"))
            integer<1, kMaxTimeout>(*f, conntrack.tcp_closing_timeout_s);
        if (auto f = keys->optional("tcp_closed_timeout"))
            integer<1, kMaxTimeout>(*f, conntrack.tcp_closed_timeout_s);
        if (auto f = keys->optional("udp_timeout"))
            integer<1, kMaxTimeout>(*f, conntrack.udp_timeout_s);
        if (auto f = keys->optional("icmp_timeout"))
            integer<1, kMaxTimeout>(*f, conntrack.icmp_timeout_s);
        keys->report_unknown_keys();
    }

    void snat(const Field& field, SnatConfig& snat) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->optional("addresses")) list(*f, snat.addresses, &Decoder::address);
        if (auto f = keys->optional("port_range")) port_range(*f, snat);
        keys->report_unknown_keys();
    }

    void port(const Field& field, PortConfig& port) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->required("name")) text(*f, port.name);
        if (auto f = keys->required("device")) text(*f, port.device);
        if (auto f = keys->optional("mac")) {
            MacAddress value{};
            if (mac(*f, value)) port.mac = value;
        }
        if (auto f = keys->required("addresses"))
            list(*f, port.addresses, &Decoder::interface_address);
        if (auto f = keys->optional("vlan")) integer<0, 4094>(*f, port.vlan);
        if (auto f = keys->optional("promiscuous")) flag(*f, port.promiscuous);
        keys->report_unknown_keys();
    }

    void route(const Field& field, RouteConfig& route) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->required("prefix")) prefix(*f, route.prefix, PrefixForm::Network);
        if (auto f = keys->required("via")) address(*f, route.via);
        if (auto f = keys->optional("port")) text(*f, route.port);
        keys->report_unknown_keys();
    }

    void neighbor(const Field& field, NeighborConfig& neighbor) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->required("address")) address(*f, neighbor.address);
        if (auto f = keys->required("mac")) mac(*f, neighbor.mac);
        if (auto f = keys->optional("port")) text(*f, neighbor.port);
        keys->report_unknown_keys();
    }

    void service(const Field& field, ServiceConfig& service) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->required("name")) text(*f, service.name);
        if (auto f = keys->optional("namespace")) text(*f, service.namespace_name);
        if (auto f = keys->required("cluster_ip")) address(*f, service.cluster_ip);
        if (auto f = keys->required("ports")) list(*f, service.ports, &Decoder::service_port);
        if (auto f = keys->optional("endpoints")) list(*f, service.endpoints, &Decoder::endpoint);
        keys->report_unknown_keys();
    }

    void service_port(const Field& field, ServicePortConfig& port) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->optional("name")) text(*f, port.name);
        if (auto f = keys->optional("protocol")) protocol(*f, port.protocol);
        if (auto f = keys->required("port")) integer<1, 65535>(*f, port.port);
        if (auto f = keys->optional("target_port")) integer<1, 65535>(*f, port.target_port);
        keys->report_unknown_keys();
    }

    void endpoint(const Field& field, EndpointConfig& endpoint) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->required("address")) address(*f, endpoint.address);
        if (auto f = keys->optional("port")) integer<1, 65535>(*f, endpoint.port);
        if (auto f = keys->optional("ready")) flag(*f, endpoint.ready);
        if (auto f = keys->optional("terminating")) flag(*f, endpoint.terminating);
        if (auto f = keys->optional("weight")) integer<0, 65535>(*f, endpoint.weight);
        keys->report_unknown_keys();
    }

    // --- values ---

    void wrong_type(const Field& field, std::string_view expected, std::string_view hint = {}) {
        diagnostics_.reject(field.path, "expected " + std::string(expected) + ", found " +
                                            std::string(type_name(field.node.type())) +
                                            std::string(hint));
    }

    std::optional<TableFields> table_fields(const Field& field) {
        const toml::table* table = field.node.as_table();
        if (!table) {
            wrong_type(field, "a table");
            return std::nullopt;
        }
        return std::optional<TableFields>{std::in_place, *table, field.path, diagnostics_};
    }

    // Every entry is kept, decoded or not, so that entry i is always at path "list[i]".
    template <class T, class Element>
    void list(const Field& field, std::vector<T>& out, Element element) {
        const toml::array* array = field.node.as_array();
        if (!array) {
            wrong_type(field, "an array",
                       field.node.is_table()
                           ? "; write a [[" + header_name(field.path) + "]] table for each entry"
                           : "");
            return;
        }
        out.clear();
        for (size_t i = 0; i < array->size(); ++i) {
            Field item{*array->get(i), field.path + "[" + std::to_string(i) + "]"};
            (this->*element)(item, out.emplace_back());
        }
    }

    bool text(const Field& field, std::string& out) {
        const auto* value = field.node.as_string();
        if (!value) {
            wrong_type(field, "a string");
            return false;
        }
        if (value->get().empty()) {
            diagnostics_.reject(field.path, "must not be empty");
            return false;
        }
        out = value->get();
        return true;
    }

    bool flag(const Field& field, bool& out) {
        const auto* value = field.node.as_boolean();
        if (!value) {
            wrong_type(field, "a boolean (true or false)");
            return false;
        }
        out = value->get();
        return true;
    }

    template <int64_t Min, int64_t Max, class T>
    bool integer(const Field& field, T& out) {
        static_assert(Min >= 0 && static_cast<uint64_t>(Max) <= std::numeric_limits<T>::max());
        const auto* value = field.node.as_integer();
        if (!value) {
            wrong_type(field, "an integer");
            return false;
        }
        int64_t number = value->get();
        if (number < Min || number > Max) {
            diagnostics_.reject(field.path, std::to_string(number) + " is out of range; allowed: " +
                                                std::to_string(Min) + ".." + std::to_string(Max));
            return false;
        }
        out = static_cast<T>(number);
        return true;
    }

    bool lcore(const Field& field, unsigned& out) { return integer<0, 1023>(field, out); }

    bool maglev_table_size(const Field& field, uint32_t& out) {
        const auto* value = field.node.as_integer();
        if (!value) {
            wrong_type(field, "an integer");
            return false;
        }
        int64_t size = value->get();
        if (size < 101 || size > 1'000'003 || !is_prime(static_cast<uint32_t>(size))) {
            diagnostics_.reject(field.path, std::to_string(size) +
                                                " is not allowed; the Maglev table size must be a "
                                                "prime in 101..1000003 (e.g. 65537)");
            return false;
        }
        out = static_cast<uint32_t>(size);
        return true;
    }

    bool address(const Field& field, uint32_t& out) {
        std::string text_value;
        if (!text(field, text_value)) return false;
        auto parsed = parse_ipv4(text_value);
        if (!parsed) {
            diagnostics_.reject(field.path, quoted(text_value) +
                                                " is not an IPv4 address; expected a dotted quad "
                                                "like \"198.18.0.1\" (no prefix length)");
            return false;
        }
        out = *parsed;
        return true;
    }

    bool interface_address(const Field& field, Ipv4Prefix& out) {
        return prefix(field, out, PrefixForm::InterfaceAddress);
    }

    bool prefix(const Field& field, Ipv4Prefix& out, PrefixForm form) {
        std::string text_value;
        if (!text(field, text_value)) return false;
        auto parsed = parse_ipv4_prefix(text_value);
        if (!parsed) {
            diagnostics_.reject(field.path, quoted(text_value) +
                                                " is not an IPv4 prefix; expected an address and "
                                                "length like \"198.18.0.1/24\"");
            return false;
        }
        bool has_length = text_value.find('/') != std::string::npos;
        if (form == PrefixForm::InterfaceAddress && !has_length) {
            diagnostics_.reject(field.path, quoted(text_value) + " needs a prefix length, e.g. \"" +
                                                text_value +
                                                "/24\"; it defines the port's connected subnet");
            return false;
        }
        Ipv4Prefix network{parsed->address & prefix_mask(parsed->length), parsed->length};
        if (form == PrefixForm::Network && network != *parsed) {
            diagnostics_.reject(field.path, quoted(text_value) +
                                                " has host bits set; did you mean \"" +
                                                format_ipv4_prefix(network) + "\"?");
            return false;
        }
        out = *parsed;
        return true;
    }

    bool mac(const Field& field, MacAddress& out) {
        std::string text_value;
        if (!text(field, text_value)) return false;
        auto parsed = parse_mac(text_value);
        if (!parsed) {
            diagnostics_.reject(
                field.path,
                quoted(text_value) +
                    " is not a MAC address; expected six hex octets like \"02:00:00:00:00:01\"");
            return false;
        }
        if ((*parsed)[0] & 0x01) {
            diagnostics_.reject(
                field.path,
                quoted(text_value) +
                    " is a multicast address; a unicast MAC is needed (first octet even)");
            return false;
        }
        out = *parsed;
        return true;
    }

    bool nat_mode(const Field& field, NatMode& out) {
        std::string text_value;
        if (!text(field, text_value)) return false;
        if (text_value == "fullnat")
            out = NatMode::FullNat;
        else if (text_value == "dnat")
            out = NatMode::DnatOnly;
        else {
            diagnostics_.reject(field.path, "unknown NAT mode " + quoted(text_value) +
                                                "; allowed: \"fullnat\", \"dnat\"");
            return false;
        }
        return true;
    }

    // Kubernetes spells protocols in capitals; any case is accepted.
    bool protocol(const Field& field, Protocol& out) {
        std::string text_value;
        if (!text(field, text_value)) return false;
        const std::optional<Protocol> parsed = parse_protocol(text_value);
        if (!parsed) {
            diagnostics_.reject(field.path, "unknown protocol " + quoted(text_value) +
                                                "; allowed: \"TCP\", \"UDP\", \"SCTP\"");
            return false;
        }
        out = *parsed;
        return true;
    }

    void port_range(const Field& field, SnatConfig& snat) {
        const toml::array* array = field.node.as_array();
        if (!array || array->size() != 2) {
            diagnostics_.reject(field.path,
                                "expected [min, max], two port numbers like [1024, 65535]");
            return;
        }
        Field min{*array->get(0), field.path + "[0]"};
        Field max{*array->get(1), field.path + "[1]"};
        integer<1, 65535>(min, snat.port_min);
        integer<1, 65535>(max, snat.port_max);
    }

    Diagnostics& diagnostics_;
};

}  // namespace

void decode(const toml::table& root, Config& config, Diagnostics& diagnostics) {
    Decoder(diagnostics).document(root, config);
}

}  // namespace vipgate::config::detail
