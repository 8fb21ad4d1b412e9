#include "pktgen/options.h"

#include <bit>
#include <iostream>
#include <sstream>

#include <boost/program_options.hpp>

#include "config/config.h"

namespace vipgen {
namespace po = boost::program_options;
namespace cfg = vipgate::config;

namespace {

std::vector<std::string> split_words(const std::string& text) {
    std::istringstream stream(text);
    std::vector<std::string> words;
    for (std::string word; stream >> word;) words.push_back(word);
    return words;
}

Pattern parse_pattern(const std::string& text) {
    if (text == "established") return Pattern::Established;
    if (text == "new") return Pattern::New;
    if (text == "mixed") return Pattern::Mixed;
    if (text == "lifecycle") return Pattern::Lifecycle;
    if (text == "flood") return Pattern::Flood;
    throw UsageError("--pattern must be established, new, mixed, lifecycle or flood, not '" + text + "'");
}

Protocols parse_protocols(const std::string& text) {
    if (text == "tcp") return Protocols::Tcp;
    if (text == "udp") return Protocols::Udp;
    if (text == "any") return Protocols::Any;
    throw UsageError("--protocol must be tcp, udp or any, not '" + text + "'");
}

ClientSpace parse_clients(const std::string& prefix_text, const std::string& ports_text) {
    const auto prefix = cfg::parse_ipv4_prefix(prefix_text);
    if (!prefix || prefix->length < 8) {
        throw UsageError("--clients must be an IPv4 prefix of length 8..32 such as 198.19.0.0/16, not '" + prefix_text +
                         "'");
    }
    ClientSpace space;
    space.first_address = prefix->address;
    space.address_count = prefix->length == 32 ? 1u : (1u << (32 - prefix->length));
    const auto dash = ports_text.find('-');
    try {
        if (dash == std::string::npos) throw std::invalid_argument("no dash");
        const unsigned long first = std::stoul(ports_text.substr(0, dash));
        const unsigned long last = std::stoul(ports_text.substr(dash + 1));
        if (first == 0 || last > 65535 || first > last) throw std::out_of_range("range");
        space.first_port = static_cast<uint16_t>(first);
        space.last_port = static_cast<uint16_t>(last);
    } catch (const std::exception&) {
        throw UsageError("--client-ports must be FIRST-LAST within 1..65535, not '" + ports_text + "'");
    }
    return space;
}

ClientSpace6 parse_clients6(const std::string& prefix_text, const ClientSpace& ports) {
    const auto prefix = cfg::parse_ipv6_prefix(prefix_text);
    if (!prefix || prefix->length < 97 || prefix_text.find('/') == std::string::npos) {
        throw UsageError("--clients6 must be an IPv6 prefix of length 97..128 such as 2001:db8::c:0/120, not '" +
                         prefix_text + "'");
    }
    ClientSpace6 space;
    space.first_address = prefix->address;
    space.address_count = 1u << (128 - prefix->length);
    space.first_port = ports.first_port;
    space.last_port = ports.last_port;
    return space;
}

Families parse_families(const std::string& text) {
    if (text == "ipv4") return Families::Ipv4;
    if (text == "ipv6") return Families::Ipv6;
    if (text == "dual") return Families::Dual;
    throw UsageError("--family must be ipv4, ipv6 or dual, not '" + text + "'");
}

}  // namespace

std::optional<Options> parse_options(int argc, const char* const* argv) {
    Options options;
    std::string eal = "--no-huge -m 1024 --no-pci --no-shconf --no-telemetry";
    std::string mode = "vipgate", pattern = "established", protocol = "any", clients = "198.19.0.0/16";
    std::string family = "ipv4", clients6 = "2001:db8::c:0/120";
    std::string client_ports = "1024-65535", forwarder_vip = "198.18.100.1", gateway_mac, dns_server;
    uint64_t flows = 1024, seed = 1;
    po::options_description described("vipgen: DPDK line-rate generator and verifier for vipgate (and any forwarder)");
    described.add_options()("help,h", "show this help")(
        "eal", po::value(&eal)->default_value(eal),
        "EAL arguments as one string (give each run its own --file-prefix, and --lcores for 1 + --lcores lcores)")(
        "port", po::value(&options.port)->required(),
        "the port: a DPDK device string, e.g. net_memif0,role=client,socket=/tmp/m.sock or a PCI address")(
        "lcores", po::value(&options.lcores)->default_value(1),
        "generator lcores (each owns one RX and one TX queue); the main lcore only reports")(
        "mode", po::value(&mode)->default_value(mode),
        "vipgate: check translations and emulate the endpoints; forwarder: the device returns packets unchanged but "
        "for MACs (testpmd io/macswap)")(
        "config", po::value(&options.config_files)->composing(),
        "vipgate config file describing the gateway (repeatable: endpoints of all files are accepted)")(
        "pattern", po::value(&pattern)->default_value(pattern),
        "established | new (every packet a new connection) | mixed | lifecycle (SYN, data, FIN) | flood (established "
        "flows, spoofed SYNs and legitimate handshakes)")("flows", po::value(&flows)->default_value(flows),
                                                          "concurrent flows, 1..100000000")(
        "new-share", po::value(&options.pattern.new_share)->default_value(0.1),
        "mixed: share of packets that open a new connection; flood: share of the non-legitimate packets that are "
        "spoofed SYNs")("legit-share", po::value(&options.pattern.legit_share)->default_value(0.01),
                        "flood: share of packets that open a legitimate connection (the client completes the handshake "
                        "and sends data)")("data-packets", po::value(&options.pattern.data_packets)->default_value(8),
                                           "lifecycle: data packets per connection")(
        "protocol", po::value(&protocol)->default_value(protocol), "tcp | udp | any: which service ports get traffic")(
        "size", po::value(&options.size_text)->default_value(options.size_text),
        "frame size with FCS, 64..1518, or imix (64/594/1518 as 7:4:1)")(
        "rate", po::value(&options.rate_pps)->default_value(0),
        "client packets per second over all lcores; 0 = as fast as possible")(
        "duration", po::value(&options.duration_s)->default_value(5), "seconds measured (per trial with --search)")(
        "warmup-rate", po::value(&options.warmup_rate_pps)->default_value(1e6),
        "packets per second while opening the flows of an established or mixed run")(
        "search", po::bool_switch(&options.search),
        "search the zero-loss (NDR) and partial-loss (PDR) rates instead of one run")(
        "pdr-loss", po::value(&options.pdr_loss_percent)->default_value(0.5), "PDR loss threshold in percent")(
        "precision", po::value(&options.precision)->default_value(0.02), "search precision, relative")(
        "seed", po::value(&seed)->default_value(seed), "seed of the flow tuples and visit order")(
        "clients", po::value(&clients)->default_value(clients),
        "client address space (IPv4 prefix, routed to the gateway's clients' router)")(
        "family", po::value(&family)->default_value(family),
        "ipv4 | ipv6 | dual: which cluster IPs of the config's services get traffic (dual: both; flows split by "
        "target, a dual-stack service port being one target per family)")(
        "clients6", po::value(&clients6)->default_value(clients6),
        "IPv6 client address space (a prefix of /97 or longer, on-link at the gateway: vipgate has no Neighbor "
        "Discovery yet, so each address needs a [[neighbors]] entry with vipgen's MAC)")(
        "client-ports", po::value(&client_ports)->default_value(client_ports),
        "client source ports FIRST-LAST (the largest power-of-two run from FIRST is used)")(
        "vip", po::value(&forwarder_vip)->default_value(forwarder_vip), "forwarder mode: destination address")(
        "gateway-mac", po::value(&gateway_mac),
        "destination MAC (default: learned by ARP in vipgate mode, 02:00:00:00:00:01 in forwarder mode)")(
        "mbufs", po::value(&options.mbufs)->default_value(options.mbufs), "packet buffers")(
        "silent-backends", po::bool_switch(&options.silent_backends),
        "in the measured phase the emulated endpoints check packets but do not answer: one pass through the gateway "
        "per packet (loss is then counted at the endpoints)")(
        "dns-names", po::value(&options.dns_names_file),
        "DNS query mode: send UDP queries for the names of FILE (lines 'NAME TYPE EXPECTED', see pktgen/dns_names.h) "
        "to --dns-server and check every answer; --flows clients, each numbering its queries in the ID")(
        "dns-server", po::value(&dns_server),
        "DNS query mode: the DNS address asked (a [dns] address of the gateway), port 53")(
        "json", po::bool_switch(&options.json), "print the result as JSON on stdout (the table goes to stderr)");

    po::variables_map values;
    try {
        po::store(po::parse_command_line(argc, argv, described), values);
        if (values.count("help")) {
            std::cout << described << "\nExit status: 0 all checks clean, 1 errors found, 2 usage or setup error.\n";
            return std::nullopt;
        }
        po::notify(values);
    } catch (const po::error& error) {
        throw UsageError(error.what());
    }

    options.eal_args = split_words(eal);
    if (mode == "vipgate") {
        options.mode = CheckMode::Gateway;
        if (options.config_files.empty()) throw UsageError("--mode vipgate needs --config FILE (the gateway's config)");
    } else if (mode == "forwarder") {
        options.mode = CheckMode::Forwarder;
    } else {
        throw UsageError("--mode must be vipgate or forwarder, not '" + mode + "'");
    }
    if (options.lcores == 0 || options.lcores > kMaxGeneratorLcores) {
        throw UsageError("--lcores must be within 1.." + std::to_string(kMaxGeneratorLcores));
    }
    if (flows == 0 || flows > 100'000'000) throw UsageError("--flows must be within 1..100000000");
    options.pattern.flows = static_cast<uint32_t>(flows);
    options.pattern.pattern = parse_pattern(pattern);
    options.pattern.seed = seed;
    options.protocols = parse_protocols(protocol);
    options.clients = parse_clients(clients, client_ports);
    options.families = parse_families(family);
    options.clients6 = parse_clients6(clients6, options.clients);
    const uint64_t ports_used =
        std::bit_floor(static_cast<uint32_t>(options.clients.last_port - options.clients.first_port + 1));
    if (static_cast<uint64_t>(options.clients.address_count) * ports_used < flows) {
        throw UsageError("the client space has fewer tuples than --flows: " +
                         std::to_string(options.clients.address_count) + " addresses (--clients) x " +
                         std::to_string(ports_used) + " ports (--client-ports, the largest power of two it holds)");
    }
    if (options.families != Families::Ipv4 &&
        static_cast<uint64_t>(options.clients6.address_count) * ports_used < flows) {
        throw UsageError(
            "the IPv6 client space has fewer tuples than --flows: " + std::to_string(options.clients6.address_count) +
            " addresses (--clients6) x " + std::to_string(ports_used) + " ports");
    }
    if (options.families != Families::Ipv4 && options.mode == CheckMode::Forwarder) {
        throw UsageError("--family ipv6 and dual need --mode vipgate (forwarder mode sends IPv4 to --vip)");
    }
    try {
        if (options.size_text == "imix") {
            options.sizes = FrameSizes::imix();
        } else {
            options.sizes = FrameSizes::fixed(static_cast<uint32_t>(std::stoul(options.size_text)));
        }
    } catch (const std::exception& error) {
        throw UsageError("--size: " + std::string(error.what()) + " (give 64..1518 or imix)");
    }
    if (!(options.rate_pps >= 0)) throw UsageError("--rate must be >= 0");
    if (!(options.duration_s > 0 && options.duration_s <= 86400))
        throw UsageError("--duration must be within (0, 86400]");
    if (!(options.warmup_rate_pps > 0)) throw UsageError("--warmup-rate must be > 0");
    if (!(options.pdr_loss_percent >= 0 && options.pdr_loss_percent < 100))
        throw UsageError("--pdr-loss must be within [0, 100)");
    if (!(options.precision > 0 && options.precision < 1)) throw UsageError("--precision must be within (0, 1)");
    if (!(options.pattern.new_share >= 0 && options.pattern.new_share <= 1))
        throw UsageError("--new-share must be within 0..1");
    if (!(options.pattern.legit_share >= 0 && options.pattern.legit_share <= 1))
        throw UsageError("--legit-share must be within 0..1");
    const auto vip = cfg::parse_ipv4(forwarder_vip);
    if (!vip) throw UsageError("--vip must be an IPv4 address");
    options.forwarder_vip = *vip;
    if (!gateway_mac.empty()) {
        options.gateway_mac = cfg::parse_mac(gateway_mac);
        if (!options.gateway_mac) throw UsageError("--gateway-mac must look like 02:00:00:00:00:01");
    } else if (options.mode == CheckMode::Forwarder) {
        options.gateway_mac = cfg::MacAddress{0x02, 0, 0, 0, 0, 0x01};
    }
    if (!options.dns_names_file.empty() || !dns_server.empty()) {
        if (options.dns_names_file.empty() || dns_server.empty())
            throw UsageError("--dns-names and --dns-server go together");
        const auto server = cfg::parse_ipv4(dns_server);
        if (!server) throw UsageError("--dns-server must be an IPv4 address, not '" + dns_server + "'");
        options.dns_server = *server;
        if (options.mode != CheckMode::Gateway)
            throw UsageError("DNS query mode needs --mode vipgate (the gateway answers)");
        if (options.families != Families::Ipv4) throw UsageError("DNS query mode is IPv4 only (--family ipv4)");
        if (options.pattern.pattern != Pattern::Established || options.silent_backends) {
            throw UsageError(
                "DNS query mode sends queries from --flows clients: --pattern and --silent-backends do not apply");
        }
    }
    if (options.mbufs < 4096) throw UsageError("--mbufs must be at least 4096");
    return options;
}

}  // namespace vipgen
