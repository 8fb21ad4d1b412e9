// merge_client_ranges: prefixes (host order) -> sorted, disjoint, merged ranges.
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

}  // namespace
}  // namespace vipgate
