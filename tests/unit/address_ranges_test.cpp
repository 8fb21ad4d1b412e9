// merge_client_ranges(6): prefixes -> sorted, disjoint, merged ranges; the snapshot's lookups.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <rte_byteorder.h>

#include "control/address_ranges.h"

namespace vipgate {
namespace {

std::vector<config::Ipv4Prefix> prefixes(const std::vector<std::string>& texts) {
    std::vector<config::Ipv4Prefix> result;
    for (const std::string& text : texts) {
        const std::optional<config::Ipv4Prefix> prefix = config::parse_ipv4_prefix(text);
        EXPECT_TRUE(prefix.has_value()) << text;
        if (prefix) result.push_back(*prefix);
    }
    return result;
}

std::string describe(const std::vector<AddressRange>& ranges) {
    std::string text;
    for (const AddressRange& range : ranges) {
        if (!text.empty()) text += ' ';
        text += config::format_ipv4(range.first);
        text += '-';
        text += config::format_ipv4(range.last);
    }
    return text;
}

std::string merged(const std::vector<std::string>& texts) {
    return describe(merge_client_ranges(prefixes(texts)));
}

TEST(MergeClientRanges, EmptyMeansEveryone) {
    EXPECT_TRUE(merge_client_ranges({}).empty());
    Snapshot snapshot;
    EXPECT_TRUE(snapshot.client_allowed(rte_cpu_to_be_32(0x01020304)));
}

TEST(MergeClientRanges, SinglePrefixes) {
    EXPECT_EQ(merged({"10.0.0.0/8"}), "10.0.0.0-10.255.255.255");
    EXPECT_EQ(merged({"192.168.1.7/32"}), "192.168.1.7-192.168.1.7");
    EXPECT_EQ(merged({"192.168.1.7"}), "192.168.1.7-192.168.1.7");
    EXPECT_EQ(merged({"0.0.0.0/0"}), "0.0.0.0-255.255.255.255");
    EXPECT_EQ(merged({"255.255.255.255/32"}), "255.255.255.255-255.255.255.255");
}

TEST(MergeClientRanges, HostBitsAreIgnored) {
    EXPECT_EQ(merged({"10.1.2.3/16"}), "10.1.0.0-10.1.255.255");
}

TEST(MergeClientRanges, SortsAndKeepsDisjointRangesApart) {
    EXPECT_EQ(merged({"172.16.0.0/12", "10.0.0.0/8", "192.168.0.0/16"}),
              "10.0.0.0-10.255.255.255 172.16.0.0-172.31.255.255 192.168.0.0-192.168.255.255");
    EXPECT_EQ(merged({"10.0.0.0/24", "10.0.2.0/24"}), "10.0.0.0-10.0.0.255 10.0.2.0-10.0.2.255");
}

TEST(MergeClientRanges, MergesOverlapsContainmentAndDuplicates) {
    EXPECT_EQ(merged({"10.0.0.0/8", "10.1.0.0/16", "10.0.0.0/8"}), "10.0.0.0-10.255.255.255");
    EXPECT_EQ(merged({"10.1.0.0/16", "10.0.0.0/8"}), "10.0.0.0-10.255.255.255");
    EXPECT_EQ(merged({"0.0.0.0/0", "10.0.0.0/8", "255.255.255.255/32"}), "0.0.0.0-255.255.255.255");
}

TEST(MergeClientRanges, MergesAdjacentRanges) {
    EXPECT_EQ(merged({"10.0.1.0/24", "10.0.0.0/24"}), "10.0.0.0-10.0.1.255");
    EXPECT_EQ(merged({"10.0.0.0/25", "10.0.0.128/25", "10.0.1.0/32"}), "10.0.0.0-10.0.1.0");
    EXPECT_EQ(merged({"128.0.0.0/1", "0.0.0.0/1"}), "0.0.0.0-255.255.255.255");
}

TEST(MergeClientRanges, SnapshotLookupAgrees) {
    Snapshot snapshot;
    snapshot.client_ranges = merge_client_ranges(prefixes({"10.0.0.0/8", "192.168.1.0/24", "192.168.2.0/24"}));
    auto allowed = [&](const char* text) {
        return snapshot.client_allowed(rte_cpu_to_be_32(*config::parse_ipv4(text)));
    };
    EXPECT_TRUE(allowed("10.0.0.0"));
    EXPECT_TRUE(allowed("10.255.255.255"));
    EXPECT_FALSE(allowed("11.0.0.0"));
    EXPECT_FALSE(allowed("9.255.255.255"));
    EXPECT_TRUE(allowed("192.168.2.255"));
    EXPECT_TRUE(allowed("192.168.1.0"));
    EXPECT_FALSE(allowed("192.168.3.0"));
    EXPECT_FALSE(allowed("0.0.0.0"));
}

std::vector<config::Ipv6Prefix> prefixes6(const std::vector<std::string>& texts) {
    std::vector<config::Ipv6Prefix> result;
    for (const std::string& text : texts) {
        const std::optional<config::Ipv6Prefix> prefix = config::parse_ipv6_prefix(text);
        EXPECT_TRUE(prefix.has_value()) << text;
        if (prefix) result.push_back(*prefix);
    }
    return result;
}

config::Ipv6Address address_of(const Ipv6Number& number) {
    config::Ipv6Address address{};
    for (size_t i = 0; i < 8; ++i) address[i] = static_cast<uint8_t>(number.high >> (56 - 8 * i));
    for (size_t i = 0; i < 8; ++i) address[8 + i] = static_cast<uint8_t>(number.low >> (56 - 8 * i));
    return address;
}

std::string merged6(const std::vector<std::string>& texts) {
    std::string text;
    for (const AddressRange6& range : merge_client_ranges6(prefixes6(texts))) {
        if (!text.empty()) text += ' ';
        text += config::format_ipv6(address_of(range.first)) + '-' + config::format_ipv6(address_of(range.last));
    }
    return text;
}

TEST(MergeClientRanges6, PrefixesOnEitherSideOfTheHalves) {
    EXPECT_EQ(merged6({"2001:db8::/32"}), "2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
    EXPECT_EQ(merged6({"2001:db8:0:1::/64"}), "2001:db8:0:1::-2001:db8:0:1:ffff:ffff:ffff:ffff");
    EXPECT_EQ(merged6({"2001:db8::1:0/112"}), "2001:db8::1:0-2001:db8::1:ffff");
    EXPECT_EQ(merged6({"2001:db8::7"}), "2001:db8::7-2001:db8::7");
    EXPECT_EQ(merged6({"::/0"}), "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    EXPECT_EQ(merged6({"2001:db8::1:2/112"}), "2001:db8::1:0-2001:db8::1:ffff") << "host bits ignored";
}

TEST(MergeClientRanges6, MergesOverlapsAdjacencyAcrossTheHalvesAndTheTop) {
    EXPECT_EQ(merged6({"2001:db8:0:1::/64", "2001:db8::/64"}), "2001:db8::-2001:db8:0:1:ffff:ffff:ffff:ffff");
    EXPECT_EQ(merged6({"2001:db8::/48", "2001:db8::5/128"}), "2001:db8::-2001:db8:0:ffff:ffff:ffff:ffff:ffff");
    EXPECT_EQ(merged6({"2001:db8::/112", "2001:db8::2:0/112"}),
              "2001:db8::-2001:db8::ffff 2001:db8::2:0-2001:db8::2:ffff");
    EXPECT_EQ(merged6({"8000::/1", "::/1"}), "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    EXPECT_EQ(merged6({"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "ffff::/16"}),
              "ffff::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        << "a range ending at the last address has no successor";
}

TEST(MergeClientRanges6, SnapshotLookupAndTheOtherFamily) {
    Snapshot snapshot;
    auto allowed6 = [&](const char* text) { return snapshot.client_allowed6(config::parse_ipv6(text)->data()); };
    auto allowed4 = [&](const char* text) {
        return snapshot.client_allowed(rte_cpu_to_be_32(*config::parse_ipv4(text)));
    };
    EXPECT_TRUE(allowed6("2001:db8::1")) << "no ranges: everyone";
    snapshot.client_ranges6 = merge_client_ranges6(prefixes6({"2001:db8:1::/48", "2001:db8:3::/64"}));
    EXPECT_TRUE(allowed6("2001:db8:1::"));
    EXPECT_TRUE(allowed6("2001:db8:1:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_FALSE(allowed6("2001:db8:2::1"));
    EXPECT_FALSE(allowed6("2001:db8:0:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_TRUE(allowed6("2001:db8:3::1"));
    EXPECT_FALSE(allowed6("2001:db8:3:1::"));
    EXPECT_FALSE(allowed4("198.18.0.1")) << "IPv6 ranges alone shut IPv4 clients out";
    snapshot.client_ranges = merge_client_ranges(prefixes({"198.18.0.0/16"}));
    EXPECT_TRUE(allowed4("198.18.0.1"));
    snapshot.client_ranges6.clear();
    EXPECT_FALSE(allowed6("2001:db8:1::1")) << "IPv4 ranges alone shut IPv6 clients out";
}

}  // namespace
}  // namespace vipgate
