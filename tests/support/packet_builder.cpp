#include "tests/support/packet_builder.h"

#include "dataplane/flow_key.h"

#include <algorithm>
#include <cstdio>

namespace vipgate::test {
namespace {

constexpr size_t kIpv4HeaderLength = 20;
constexpr size_t kTcpChecksumOffset = 16;
constexpr size_t kUdpChecksumOffset = 6;
constexpr size_t kSctpChecksumOffset = 8;
constexpr size_t kIcmpChecksumOffset = 2;
constexpr size_t kIpv4ChecksumOffset = 10;

void append16(Bytes& out, uint16_t host_value) {
    out.push_back(static_cast<uint8_t>(host_value >> 8));
    out.push_back(static_cast<uint8_t>(host_value));
}

void append32(Bytes& out, uint32_t host_value) {
    append16(out, static_cast<uint16_t>(host_value >> 16));
    append16(out, static_cast<uint16_t>(host_value));
}

// Appends bytes exactly as they are in memory (addresses are already network order).
template <typename Value>
void append_raw(Bytes& out, const Value& value) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(&value);
    out.insert(out.end(), bytes, bytes + sizeof(Value));
}

void append(Bytes& out, std::span<const uint8_t> bytes) {
    out.insert(out.end(), bytes.begin(), bytes.end());
}

void put16(Bytes& out, size_t offset, uint16_t host_value) {
    out.at(offset) = static_cast<uint8_t>(host_value >> 8);
    out.at(offset + 1) = static_cast<uint8_t>(host_value);
}

uint16_t get16(std::span<const uint8_t> bytes, size_t offset) {
    if (offset + 2 > bytes.size()) throw std::out_of_range("frame too short");
    return static_cast<uint16_t>(bytes[offset] << 8 | bytes[offset + 1]);
}

// Sum of big-endian 16-bit words; an odd last byte is padded with a zero byte.
uint32_t sum_words(std::span<const uint8_t> data, uint32_t sum) {
    for (size_t i = 0; i + 1 < data.size(); i += 2) sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
    if (data.size() % 2 != 0) sum += static_cast<uint32_t>(data.back() << 8);
    return sum;
}

uint16_t fold(uint32_t sum) {
    while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

uint32_t pseudo_header_sum(uint32_t src, uint32_t dst, uint8_t protocol, uint16_t l4_length) {
    Bytes pseudo;
    append_raw(pseudo, src);
    append_raw(pseudo, dst);
    pseudo.push_back(0);
    pseudo.push_back(protocol);
    append16(pseudo, l4_length);
    return sum_words(pseudo, 0);
}

// The IPv4 datagram inside a frame: [l3, l3 + total length), clipped to the frame.
std::span<const uint8_t> datagram_of(std::span<const uint8_t> frame, const FrameLayout& layout) {
    const size_t total_length = get16(frame, layout.l3_offset + 2);
    const size_t available = frame.size() - layout.l3_offset;
    return frame.subspan(layout.l3_offset, std::min(total_length, available));
}

// The L4 bytes of a frame's datagram; throws when the frame is shorter than the IP total length.
std::span<const uint8_t> l4_bytes_of(std::span<const uint8_t> frame, const FrameLayout& layout) {
    const size_t end = layout.l3_offset + get16(frame, layout.l3_offset + 2);
    if (end > frame.size() || end < layout.l4_offset) throw std::out_of_range("IPv4 total length beyond frame");
    return frame.subspan(layout.l4_offset, end - layout.l4_offset);
}

}  // namespace

std::string ipv4_to_string(uint32_t address) {
    uint8_t bytes[4];
    std::memcpy(bytes, &address, sizeof(bytes));
    char text[16];
    std::snprintf(text, sizeof(text), "%u.%u.%u.%u", bytes[0], bytes[1], bytes[2], bytes[3]);
    return text;
}

bool same_mac(const rte_ether_addr& a, const rte_ether_addr& b) {
    return rte_is_same_ether_addr(&a, &b) != 0;
}

// ---------------------------------------------------------------------------------------------
// Builders

Bytes ethernet_frame(uint16_t ether_type, std::span<const uint8_t> payload, const EthernetSpec& ethernet) {
    Bytes frame;
    append_raw(frame, ethernet.dst);
    append_raw(frame, ethernet.src);
    if (ethernet.vlan != 0 || ethernet.tagged_with_vlan_zero) {
        append16(frame, RTE_ETHER_TYPE_VLAN);
        append16(frame, ethernet.vlan);
    }
    append16(frame, ether_type);
    append(frame, payload);
    return frame;
}

Bytes ipv4_frame(uint8_t protocol, std::span<const uint8_t> l4, const Ipv4Spec& ip, const EthernetSpec& ethernet) {
    if (ip.options.size() % 4 != 0) throw std::invalid_argument("IPv4 options must fill 32-bit words");
    const size_t header_length = kIpv4HeaderLength + ip.options.size();
    Bytes datagram;
    const uint8_t ihl = ip.ihl.value_or(static_cast<uint8_t>(header_length / 4));
    datagram.push_back(static_cast<uint8_t>(ip.version.value_or(4) << 4 | (ihl & 0x0F)));
    datagram.push_back(ip.tos);
    append16(datagram, ip.total_length.value_or(static_cast<uint16_t>(header_length + l4.size())));
    append16(datagram, ip.id);
    append16(datagram, ip.flags_fragment);
    datagram.push_back(ip.ttl);
    datagram.push_back(ip.protocol.value_or(protocol));
    append16(datagram, 0);
    append_raw(datagram, ip.src);
    append_raw(datagram, ip.dst);
    append(datagram, ip.options);
    uint16_t checksum = internet_checksum(datagram);
    // Flipping two bits changes the value by 255 or 257, never by a multiple of 0xFFFF, so the
    // result cannot be the other representation of a correct checksum.
    if (ip.bad_checksum) checksum ^= 0x0101;
    put16(datagram, kIpv4ChecksumOffset, checksum);
    append(datagram, l4);
    return ethernet_frame(RTE_ETHER_TYPE_IPV4, datagram, ethernet);
}

Bytes tcp_frame(const TcpSpec& tcp, const Ipv4Spec& ip, const EthernetSpec& ethernet) {
    if (tcp.options.size() % 4 != 0) throw std::invalid_argument("TCP options must fill 32-bit words");
    Bytes segment;
    append16(segment, tcp.src_port);
    append16(segment, tcp.dst_port);
    append32(segment, tcp.seq);
    append32(segment, tcp.ack);
    segment.push_back(static_cast<uint8_t>(tcp.data_offset.value_or(5 + tcp.options.size() / 4) << 4));
    segment.push_back(tcp.flags);
    append16(segment, tcp.window);
    append16(segment, 0);  // checksum
    append16(segment, 0);  // urgent pointer
    append(segment, tcp.options);
    append(segment, tcp.payload);
    const uint32_t pseudo = pseudo_header_sum(ip.src, ip.dst, kProtoTcp, static_cast<uint16_t>(segment.size()));
    put16(segment, kTcpChecksumOffset, internet_checksum(segment, pseudo));
    return ipv4_frame(kProtoTcp, segment, ip, ethernet);
}

Bytes udp_frame(const UdpSpec& udp, const Ipv4Spec& ip, const EthernetSpec& ethernet) {
    Bytes datagram;
    const uint16_t length = udp.length.value_or(static_cast<uint16_t>(8 + udp.payload.size()));
    append16(datagram, udp.src_port);
    append16(datagram, udp.dst_port);
    append16(datagram, length);
    append16(datagram, 0);  // checksum
    append(datagram, udp.payload);
    if (!udp.zero_checksum) {
        const uint16_t checksum = internet_checksum(datagram, pseudo_header_sum(ip.src, ip.dst, kProtoUdp, length));
        put16(datagram, kUdpChecksumOffset, checksum == 0 ? 0xFFFF : checksum);  // RFC 768
    }
    return ipv4_frame(kProtoUdp, datagram, ip, ethernet);
}

Bytes sctp_chunk(uint8_t type, uint8_t flags, std::span<const uint8_t> value) {
    Bytes chunk;
    chunk.push_back(type);
    chunk.push_back(flags);
    append16(chunk, static_cast<uint16_t>(4 + value.size()));
    append(chunk, value);
    while (chunk.size() % 4 != 0) chunk.push_back(0);
    return chunk;
}

Bytes sctp_init_chunk(uint32_t initiate_tag, uint8_t type) {
    Bytes value;
    append32(value, initiate_tag);
    append32(value, 65536);  // a_rwnd
    append16(value, 10);     // outbound streams
    append16(value, 10);     // inbound streams
    append32(value, 1);      // initial TSN
    return sctp_chunk(type, 0, value);
}

Bytes sctp_data_chunk(uint32_t tsn, std::span<const uint8_t> payload) {
    Bytes value;
    append32(value, tsn);
    append16(value, 0);  // stream
    append16(value, 0);  // stream sequence number
    append32(value, 0);  // payload protocol
    append(value, payload);
    return sctp_chunk(0, 0x03, value);  // B and E: one unfragmented message
}

Bytes sctp_frame(const SctpSpec& sctp, const Ipv4Spec& ip, const EthernetSpec& ethernet) {
    Bytes packet;
    append16(packet, sctp.src_port);
    append16(packet, sctp.dst_port);
    append32(packet, sctp.tag);
    append32(packet, 0);  // checksum
    append(packet, sctp.chunks);
    uint32_t checksum = sctp_checksum_reference(packet);
    if (sctp.bad_checksum) checksum ^= 0x00010100;
    std::memcpy(packet.data() + kSctpChecksumOffset, &checksum, sizeof(checksum));
    return ipv4_frame(kProtoSctp, packet, ip, ethernet);
}

Bytes icmp_echo_frame(const IcmpEchoSpec& echo, const Ipv4Spec& ip, const EthernetSpec& ethernet) {
    Bytes message;
    message.push_back(echo.request ? RTE_IP_ICMP_ECHO_REQUEST : RTE_IP_ICMP_ECHO_REPLY);
    message.push_back(0);
    append16(message, 0);  // checksum
    append16(message, echo.identifier);
    append16(message, echo.sequence);
    append(message, echo.payload);
    put16(message, kIcmpChecksumOffset, internet_checksum(message));
    return ipv4_frame(kProtoIcmp, message, ip, ethernet);
}

Bytes icmp_error_frame(const IcmpErrorSpec& error, const Ipv4Spec& ip, const EthernetSpec& ethernet) {
    Bytes message;
    message.push_back(error.type);
    message.push_back(error.code);
    append16(message, 0);  // checksum
    append32(message, error.rest_of_header);
    append(message, error.quoted);
    put16(message, kIcmpChecksumOffset, internet_checksum(message));
    return ipv4_frame(kProtoIcmp, message, ip, ethernet);
}

Bytes arp_frame(const ArpSpec& arp, std::optional<EthernetSpec> ethernet) {
    Bytes body;
    append16(body, RTE_ARP_HRD_ETHER);
    append16(body, RTE_ETHER_TYPE_IPV4);
    body.push_back(RTE_ETHER_ADDR_LEN);
    body.push_back(4);
    append16(body, arp.operation);
    append_raw(body, arp.sender_mac);
    append_raw(body, arp.sender_addr);
    append_raw(body, arp.target_mac);
    append_raw(body, arp.target_addr);
    const EthernetSpec l2 = ethernet.value_or(EthernetSpec{
        .src = arp.sender_mac,
        .dst = arp.operation == RTE_ARP_OP_REQUEST ? kBroadcastMac : arp.target_mac,
    });
    return ethernet_frame(RTE_ETHER_TYPE_ARP, body, l2);
}

Bytes quote_of(std::span<const uint8_t> frame, size_t length) {
    const std::span<const uint8_t> datagram = datagram_of(frame, layout_of(frame));
    return Bytes(datagram.begin(), datagram.begin() + static_cast<ptrdiff_t>(std::min(length, datagram.size())));
}

Bytes with_padding(Bytes frame, size_t padding) {
    frame.resize(frame.size() + padding, 0);
    return frame;
}

Bytes payload_bytes(size_t length, uint8_t first) {
    Bytes payload(length);
    for (size_t i = 0; i < length; ++i) payload[i] = static_cast<uint8_t>(first + i);
    return payload;
}

// ---------------------------------------------------------------------------------------------
// Inspection

FrameLayout layout_of(std::span<const uint8_t> frame) {
    FrameLayout layout;
    layout.ether_type = get16(frame, 12);
    layout.l3_offset = sizeof(rte_ether_hdr);
    if (layout.ether_type == RTE_ETHER_TYPE_VLAN) {
        layout.vlan_tci = get16(frame, 14);
        layout.ether_type = get16(frame, 16);
        layout.l3_offset += sizeof(rte_vlan_hdr);
    }
    if (layout.ether_type == RTE_ETHER_TYPE_IPV4 && frame.size() > layout.l3_offset) {
        layout.l4_offset = layout.l3_offset + (frame[layout.l3_offset] & 0x0F) * 4u;
    }
    return layout;
}

rte_ether_hdr ethernet_of(std::span<const uint8_t> frame) {
    return read_header<rte_ether_hdr>(frame, 0);
}
rte_ipv4_hdr ipv4_of(std::span<const uint8_t> frame) {
    return read_header<rte_ipv4_hdr>(frame, layout_of(frame).l3_offset);
}
rte_tcp_hdr tcp_of(std::span<const uint8_t> frame) {
    return read_header<rte_tcp_hdr>(frame, layout_of(frame).l4_offset);
}
rte_udp_hdr udp_of(std::span<const uint8_t> frame) {
    return read_header<rte_udp_hdr>(frame, layout_of(frame).l4_offset);
}
rte_sctp_hdr sctp_of(std::span<const uint8_t> frame) {
    return read_header<rte_sctp_hdr>(frame, layout_of(frame).l4_offset);
}
rte_icmp_hdr icmp_of(std::span<const uint8_t> frame) {
    return read_header<rte_icmp_hdr>(frame, layout_of(frame).l4_offset);
}
rte_arp_hdr arp_of(std::span<const uint8_t> frame) {
    return read_header<rte_arp_hdr>(frame, layout_of(frame).l3_offset);
}

Bytes l4_payload_of(std::span<const uint8_t> frame) {
    const FrameLayout layout = layout_of(frame);
    const std::span<const uint8_t> l4 = l4_bytes_of(frame, layout);
    const uint8_t protocol = ipv4_of(frame).next_proto_id;
    const size_t header_length = protocol == kProtoTcp ? (tcp_of(frame).data_off >> 4) * 4u : 8u;
    if (header_length > l4.size()) throw std::out_of_range("L4 header beyond datagram");
    return Bytes(l4.begin() + static_cast<ptrdiff_t>(header_length), l4.end());
}

std::string hex(std::span<const uint8_t> bytes) {
    std::string text;
    char byte_text[4];
    for (size_t i = 0; i < bytes.size(); ++i) {
        std::snprintf(byte_text, sizeof(byte_text), i == 0 ? "%02x" : " %02x", bytes[i]);
        text += byte_text;
    }
    return text;
}

testing::AssertionResult frames_equal(std::span<const uint8_t> actual, std::span<const uint8_t> expected) {
    const auto mismatch = std::mismatch(actual.begin(), actual.end(), expected.begin(), expected.end());
    if (mismatch.first == actual.end() && mismatch.second == expected.end()) return testing::AssertionSuccess();
    return testing::AssertionFailure() << "frames differ from offset " << (mismatch.first - actual.begin())
                                       << " (sizes " << actual.size() << " and " << expected.size() << ")"
                                       << "\n  actual:   " << hex(actual) << "\n  expected: " << hex(expected);
}

// ---------------------------------------------------------------------------------------------
// Checksums

uint16_t internet_checksum(std::span<const uint8_t> data, uint32_t partial_sum) {
    return static_cast<uint16_t>(~fold(sum_words(data, partial_sum)));
}

bool ipv4_header_checksum_ok(std::span<const uint8_t> frame) {
    const FrameLayout layout = layout_of(frame);
    if (layout.l4_offset > frame.size() || layout.l4_offset < layout.l3_offset + kIpv4HeaderLength) return false;
    return fold(sum_words(frame.subspan(layout.l3_offset, layout.l4_offset - layout.l3_offset), 0)) == 0xFFFF;
}

uint32_t crc32c_reference(std::span<const uint8_t> data) {
    uint32_t crc = 0xFFFFFFFF;
    for (uint8_t byte : data) {
        crc ^= byte;
        for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
    }
    return ~crc;
}

uint32_t sctp_checksum_reference(std::span<const uint8_t> sctp_packet) {
    if (sctp_packet.size() < 12) throw std::out_of_range("SCTP packet shorter than its common header");
    Bytes copy(sctp_packet.begin(), sctp_packet.end());
    std::fill_n(copy.begin() + kSctpChecksumOffset, 4, 0);
    const uint32_t crc = crc32c_reference(copy);
    // Least significant byte first on the wire (RFC 9260 appendix A).
    const uint8_t stored[4] = {static_cast<uint8_t>(crc), static_cast<uint8_t>(crc >> 8),
                               static_cast<uint8_t>(crc >> 16), static_cast<uint8_t>(crc >> 24)};
    uint32_t value;
    std::memcpy(&value, stored, sizeof(value));
    return value;
}

bool l4_checksum_ok(std::span<const uint8_t> frame) {
    const FrameLayout layout = layout_of(frame);
    const rte_ipv4_hdr ip = ipv4_of(frame);
    const std::span<const uint8_t> l4 = l4_bytes_of(frame, layout);
    const auto length = static_cast<uint16_t>(l4.size());
    switch (ip.next_proto_id) {
    case kProtoTcp:
        return fold(sum_words(l4, pseudo_header_sum(ip.src_addr, ip.dst_addr, kProtoTcp, length))) == 0xFFFF;
    case kProtoUdp:
        if (get16(l4, kUdpChecksumOffset) == 0) return true;  // "no checksum"
        return fold(sum_words(l4, pseudo_header_sum(ip.src_addr, ip.dst_addr, kProtoUdp, get16(l4, 4)))) == 0xFFFF;
    case kProtoSctp: {
        uint32_t stored;
        if (l4.size() < 12) return false;
        std::memcpy(&stored, l4.data() + kSctpChecksumOffset, sizeof(stored));
        return stored == sctp_checksum_reference(l4);
    }
    case kProtoIcmp:
        return fold(sum_words(l4, 0)) == 0xFFFF;
    default:
        throw std::invalid_argument("l4_checksum_ok: not TCP, UDP, SCTP or ICMP");
    }
}

bool all_checksums_ok(std::span<const uint8_t> frame) {
    if (!ipv4_header_checksum_ok(frame) || !l4_checksum_ok(frame)) return false;
    const FrameLayout layout = layout_of(frame);
    const rte_ipv4_hdr ip = ipv4_of(frame);
    const bool quotes_a_datagram = ip.next_proto_id == kProtoIcmp &&
                                   icmp_of(frame).icmp_type != RTE_IP_ICMP_ECHO_REQUEST &&
                                   icmp_of(frame).icmp_type != RTE_IP_ICMP_ECHO_REPLY;
    const std::span<const uint8_t> l4 = l4_bytes_of(frame, layout);
    if (!quotes_a_datagram || l4.size() < 8 + kIpv4HeaderLength) return true;
    const size_t inner_header_length = (l4[8] & 0x0F) * 4u;
    if (8 + inner_header_length > l4.size()) return true;
    return fold(sum_words(l4.subspan(8, inner_header_length), 0)) == 0xFFFF;
}

// ---------------------------------------------------------------------------------------------
// mbufs

rte_mempool* test_mempool() {
    static rte_mempool* pool = [] {
        rte_mempool* created =
            rte_pktmbuf_pool_create("vipgate_test_pool", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
        if (created == nullptr) throw std::runtime_error("cannot create the test mbuf pool (is the EAL up?)");
        return created;
    }();
    return pool;
}

MbufPtr to_mbuf(std::span<const uint8_t> frame, std::optional<size_t> first_segment_length, rte_mempool* pool) {
    MbufPtr head(rte_pktmbuf_alloc(pool));
    if (!head) throw std::runtime_error("test mbuf pool exhausted");
    size_t copied = 0;
    rte_mbuf* segment = head.get();
    size_t limit = std::min(first_segment_length.value_or(frame.size()), frame.size());
    while (true) {
        const size_t length = std::min<size_t>(limit, rte_pktmbuf_tailroom(segment));
        auto* data = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(segment, static_cast<uint16_t>(length)));
        std::memcpy(data, frame.data() + copied, length);
        copied += length;
        if (segment != head.get() && rte_pktmbuf_chain(head.get(), segment) != 0) {
            rte_pktmbuf_free(segment);
            throw std::runtime_error("cannot chain test mbuf segments");
        }
        if (copied == frame.size()) return head;
        segment = rte_pktmbuf_alloc(pool);
        if (segment == nullptr) throw std::runtime_error("test mbuf pool exhausted");
        limit = frame.size() - copied;
    }
}

Bytes to_bytes(const rte_mbuf* m) {
    Bytes bytes;
    for (const rte_mbuf* segment = m; segment != nullptr; segment = segment->next) {
        const auto* data = rte_pktmbuf_mtod(segment, const uint8_t*);
        bytes.insert(bytes.end(), data, data + segment->data_len);
    }
    return bytes;
}

}  // namespace vipgate::test
