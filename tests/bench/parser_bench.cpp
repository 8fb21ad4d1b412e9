// parser_bench: the cost of parsing, per frame, on one core: IPv4 TCP (parse_packet) beside
// IPv6 TCP without extension headers and behind three (parse_packet, then parse_ipv6), the two
// IPv6 frames the pipeline meets most and least often. Frames sit in L1 (one frame per kind,
// parsed over and over), so this is the parser's own work, not memory: a lower bound for the
// pipeline's classify step. Not a test: run by hand, `build/tests/bench/parser_bench [millions]`.
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "dataplane/ipv6_parser.h"
#include "dataplane/packet_parser.h"
#include "tests/support/ipv6_builder.h"
#include "tests/support/packet_builder.h"

namespace {

using namespace vipgate;
using namespace vipgate::test;

double thread_seconds() {
    timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return double(now.tv_sec) + double(now.tv_nsec) * 1e-9;
}

// ns per frame; the sum of a parsed field keeps the compiler from dropping the work.
template <class Parse>
double measure(const Bytes& frame, uint64_t iterations, Parse parse) {
    uint64_t sink = 0;
    const double start = thread_seconds();
    for (uint64_t i = 0; i < iterations; ++i) sink += parse(frame);
    const double elapsed = thread_seconds() - start;
    if (sink == 0) std::printf("(nothing parsed)\n");
    return elapsed * 1e9 / double(iterations);
}

uint64_t parse_v4(const Bytes& frame) {
    ParsedPacket parsed;
    const auto length = static_cast<uint32_t>(frame.size());
    const ParseOutcome outcome = parse_packet(frame.data(), length, length, 0, true, parsed);
    return outcome.kind == PacketKind::Ipv4 ? parsed.key.dst_port : 0;
}

uint64_t parse_v6(const Bytes& frame) {
    ParsedPacket ethernet;
    const auto length = static_cast<uint32_t>(frame.size());
    if (parse_packet(frame.data(), length, length, 0, true, ethernet).kind != PacketKind::Ipv6) return 0;
    ParsedIpv6 parsed;
    const ParseOutcome outcome = parse_ipv6(frame.data(), length, length, ethernet.l3_offset, parsed);
    return outcome.kind == PacketKind::Ipv6 ? parsed.key.dst_port : 0;
}

}  // namespace

int main(int argc, char** argv) {
    const uint64_t iterations = (argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 50) * 1'000'000ull;
    const Bytes v4 = tcp_frame({.dst_port = 80, .flags = RTE_TCP_SYN_FLAG});
    const Bytes v6 = ipv6_frame({}, kProtoTcp, tcp6(40000, 80, 0x02));
    const Bytes v6_chain =
        ipv6_frame({hop_by_hop(), destination_options(16), routing_header(4, 1, 40)}, kProtoTcp, tcp6(40000, 80, 0x02));
    for (int round = 0; round < 3; ++round) {
        std::printf("round %d: IPv4 TCP %.2f ns, IPv6 TCP %.2f ns, IPv6 TCP behind 3 extension headers %.2f ns\n",
                    round, measure(v4, iterations, parse_v4), measure(v6, iterations, parse_v6),
                    measure(v6_chain, iterations, parse_v6));
    }
    return 0;
}
