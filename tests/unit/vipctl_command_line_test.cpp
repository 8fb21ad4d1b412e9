#include <gtest/gtest.h>

#include <sstream>

#include "tools/vipctl/command_line.h"
#include "tools/vipctl/request.h"

namespace vipgate::vipctl {
namespace {

using nlohmann::json;

CommandLine parse(std::vector<std::string> args, const char* environment = nullptr) {
    return parse_command_line(args, environment);
}

std::string usage_error(std::vector<std::string> args) {
    try {
        parse(args);
    } catch (const UsageError& error) {
        return error.what();
    }
    return "(accepted)";
}

TEST(VipctlCommandLine, GetWithAliasesNamespacesAndOutput) {
    CommandLine command = parse({"get", "svc"});
    EXPECT_EQ(command.verb, Verb::Get);
    EXPECT_EQ(command.resource, "services");
    EXPECT_EQ(command.namespace_name, "default");
    EXPECT_EQ(command.output, OutputFormat::Table);
    EXPECT_EQ(build_request(command, {}), json({{"op", "get"}, {"resource", "services"}, {"namespace", "default"}}));

    command = parse({"-A", "get", "ep", "-o", "wide"});
    EXPECT_EQ(command.resource, "endpoints");
    EXPECT_TRUE(command.all_namespaces());
    EXPECT_EQ(command.output, OutputFormat::Wide);
    EXPECT_EQ(build_request(command, {}), json({{"op", "get"}, {"resource", "endpoints"}}));

    command = parse({"get", "po", "-nkube-system", "-ojson"});
    EXPECT_EQ(command.resource, "pods");
    EXPECT_EQ(command.namespace_name, "kube-system");
    EXPECT_EQ(command.output, OutputFormat::Json);
    EXPECT_EQ(parse({"get", "pods", "--namespace=dev", "--output=wide"}).namespace_name, "dev");

    command = parse({"get", "conntrack", "--limit", "50"});
    EXPECT_EQ(build_request(command, {}), json({{"op", "get"}, {"resource", "conntrack"}, {"limit", 50}}));
    EXPECT_EQ(build_request(parse({"get", "stats"}), {}), json({{"op", "get"}, {"resource", "stats"}}));
}

TEST(VipctlCommandLine, GetDns) {
    CommandLine command = parse({"get", "dns", "web.default.svc.cluster.local"});
    EXPECT_EQ(command.resource, "dns");
    EXPECT_EQ(command.name, "web.default.svc.cluster.local");
    EXPECT_EQ(command.dns_type, "A");
    EXPECT_EQ(build_request(command, {}),
              json({{"op", "dns"}, {"name", "web.default.svc.cluster.local"}, {"type", "A"}}));
    EXPECT_EQ(parse({"get", "dns", "_http._tcp.web.default.svc.cluster.local", "SRV"}).dns_type, "SRV");
    EXPECT_EQ(usage_error({"get", "dns"}), "usage: vipctl get dns NAME [TYPE]");
    EXPECT_NE(usage_error({"get", "dns", "x", "-n", "kube-system"}), "(accepted)");
}

TEST(VipctlCommandLine, SocketPathPrecedence) {
    EXPECT_EQ(parse({"get", "svc"}).socket_path, "/run/vipgate/api.sock");
    EXPECT_EQ(parse({"get", "svc"}, "/tmp/env.sock").socket_path, "/tmp/env.sock");
    EXPECT_EQ(parse({"get", "svc"}, "").socket_path, "/run/vipgate/api.sock");
    EXPECT_EQ(parse({"get", "svc", "--socket", "/tmp/flag.sock"}, "/tmp/env.sock").socket_path, "/tmp/flag.sock");
    EXPECT_EQ(parse({"--socket=/tmp/flag.sock", "get", "svc"}).socket_path, "/tmp/flag.sock");
}

TEST(VipctlCommandLine, ApplyDeleteDrainDump) {
    CommandLine command = parse({"apply", "-f", "web.yaml", "-f", "-", "--filename=dns.toml"});
    EXPECT_EQ(command.verb, Verb::Apply);
    EXPECT_EQ(command.files, (std::vector<std::string>{"web.yaml", "-", "dns.toml"}));
    EXPECT_EQ(build_request(command, {{"web.yaml", "a: 1\n"}}),
              json({{"op", "apply"}, {"documents", {{{"source", "web.yaml"}, {"text", "a: 1\n"}}}}}));

    command = parse({"delete", "svc", "web", "-n", "shop"});
    EXPECT_EQ(build_request(command, {}),
              json({{"op", "delete"}, {"kind", "service"}, {"namespace", "shop"}, {"name", "web"}}));
    EXPECT_EQ(build_request(parse({"delete", "endpointslice", "web-abc"}), {})["namespace"], "default");
    EXPECT_EQ(parse({"delete", "po", "web-1"}).kind, "pod");
    command = parse({"delete", "-f", "web.yaml"});
    EXPECT_EQ(build_request(command, {{"web.yaml", "x"}}),
              json({{"op", "delete"}, {"documents", {{{"source", "web.yaml"}, {"text", "x"}}}}}));

    EXPECT_EQ(build_request(parse({"drain", "198.19.1.10"}), {}), json({{"op", "drain"}, {"address", "198.19.1.10"}}));
    EXPECT_EQ(build_request(parse({"undrain", "198.19.1.10"}), {})["op"], "undrain");
    EXPECT_EQ(build_request(parse({"dump"}), {}), json({{"op", "dump"}}));
    EXPECT_EQ(parse({"--help"}).verb, Verb::Help);
    EXPECT_EQ(parse({"get", "svc", "-h"}).verb, Verb::Help);
    EXPECT_EQ(parse({"help"}).verb, Verb::Help);
}

TEST(VipctlCommandLine, UsageErrorsSayWhatIsWrong) {
    EXPECT_EQ(usage_error({}), "missing command");
    EXPECT_EQ(usage_error({"frobnicate"}), "unknown command 'frobnicate'");
    EXPECT_EQ(usage_error({"get"}).rfind("usage: vipctl get", 0), 0u);
    EXPECT_EQ(usage_error({"get", "nodes"}).rfind("unknown resource 'nodes'", 0), 0u);
    EXPECT_EQ(usage_error({"get", "svc", "-o", "yaml"}), "unknown output format 'yaml' (json or wide)");
    EXPECT_EQ(usage_error({"get", "svc", "-n"}), "flag -n needs a value");
    EXPECT_EQ(usage_error({"get", "svc", "-n", "a", "-A"}), "-n and -A exclude each other");
    EXPECT_EQ(usage_error({"get", "svc", "--limit", "5"}), "--limit applies to 'get conntrack' only");
    EXPECT_EQ(usage_error({"get", "conntrack", "--limit", "0"}), "--limit takes a positive number, not '0'");
    EXPECT_EQ(usage_error({"get", "conntrack", "--limit", "5x"}), "--limit takes a positive number, not '5x'");
    EXPECT_EQ(usage_error({"get", "conntrack", "-A"}), "conntrack is not namespaced; drop -n/-A");
    EXPECT_EQ(usage_error({"get", "svc", "--frob"}), "unknown flag --frob");
    EXPECT_EQ(usage_error({"apply"}), "apply needs at least one -f FILE (-f - reads stdin)");
    EXPECT_EQ(usage_error({"apply", "-f", "a.yaml", "-o", "wide"}), "unknown output format 'wide' (json)");
    EXPECT_EQ(usage_error({"delete", "svc"}).rfind("usage: vipctl delete", 0), 0u);
    EXPECT_EQ(usage_error({"delete", "node", "x"}).rfind("cannot delete 'node'", 0), 0u);
    EXPECT_EQ(usage_error({"delete", "svc", "web", "-A"}), "-A does not apply to 'delete'");
    EXPECT_EQ(usage_error({"drain", "web-1"}), "'web-1' is not an IP address");
    EXPECT_EQ(usage_error({"drain"}), "usage: vipctl drain ADDRESS");
    EXPECT_EQ(usage_error({"dump", "extra"}), "usage: vipctl dump");
    EXPECT_EQ(usage_error({"get", "svc", "--socket="}), "--socket needs a path");
}

TEST(VipctlCommandLine, DrainGatewayAndAnnouncements) {
    CommandLine command = parse({"drain-gateway"});
    EXPECT_EQ(command.verb, Verb::DrainGateway);
    EXPECT_EQ(build_request(command, {}), json({{"op", "drain-gateway"}}));
    command = parse({"drain-gateway", "--deadline", "30"});
    EXPECT_EQ(build_request(command, {}), json({{"op", "drain-gateway"}, {"deadline_s", 30.0}}));
    command = parse({"undrain-gateway", "-o", "json"});
    EXPECT_EQ(command.verb, Verb::UndrainGateway);
    EXPECT_EQ(command.output, OutputFormat::Json);
    EXPECT_EQ(build_request(command, {}), json({{"op", "undrain-gateway"}}));
    command = parse({"get", "announcements"});
    EXPECT_FALSE(command.namespace_name.has_value());
    EXPECT_EQ(build_request(command, {}), json({{"op", "get"}, {"resource", "announcements"}}));
    command = parse({"get", "routes"});
    EXPECT_EQ(build_request(command, {}), json({{"op", "get"}, {"resource", "routes"}}));
    EXPECT_NE(usage_error({"drain-gateway", "--deadline", "0"}).find("--deadline takes seconds"), std::string::npos);
    EXPECT_NE(usage_error({"drain-gateway", "--deadline", "soon"}).find("--deadline takes seconds"), std::string::npos);
    EXPECT_NE(usage_error({"undrain-gateway", "--deadline", "5"}).find("--deadline"), std::string::npos);
    EXPECT_NE(usage_error({"get", "stats", "--deadline", "5"}).find("--deadline"), std::string::npos);
    EXPECT_NE(usage_error({"drain-gateway", "extra"}).find("drain-gateway"), std::string::npos);
}

TEST(VipctlCommandLine, Capture) {
    const CommandLine command = parse({"capture", "p0", "-c", "50", "-w", "out.pcapng", "--timeout", "2.5"});
    EXPECT_EQ(command.verb, Verb::Capture);
    EXPECT_EQ(build_request(command, {}),
              json({{"op", "capture"}, {"port", "p0"}, {"count", 50}, {"timeout_ms", 2500}}));
    EXPECT_EQ(command.output_file, "out.pcapng");
    EXPECT_EQ(parse({"capture", "p0", "-w", "x"}).count, 100u);
    EXPECT_EQ(usage_error({"capture", "p0"}), "capture needs -w FILE (the pcapng to write)");
    EXPECT_EQ(usage_error({"capture", "-w", "x"}).rfind("usage: vipctl capture PORT", 0), 0u);
    EXPECT_EQ(usage_error({"capture", "p0", "-w", "x", "-c", "200000"}), "-c takes at most 100000 packets");
    EXPECT_EQ(usage_error({"get", "svc", "-w", "x"}), "-w does not apply to 'get'");
}

TEST(VipctlCommandLine, DocumentsComeFromFilesAndStdin) {
    std::istringstream standard_input("kind: Service\n");
    std::vector<Document> documents = load_documents({"-"}, standard_input);
    ASSERT_EQ(documents.size(), 1u);
    EXPECT_EQ(documents[0].source, "<stdin>");
    EXPECT_EQ(documents[0].text, "kind: Service\n");
    EXPECT_THROW(load_documents({"-", "-"}, standard_input), FileError);
    try {
        load_documents({"/nonexistent/web.yaml"}, standard_input);
        FAIL();
    } catch (const FileError& error) {
        EXPECT_EQ(std::string(error.what()), "cannot read /nonexistent/web.yaml: No such file or directory");
    }
}

}  // namespace
}  // namespace vipgate::vipctl
