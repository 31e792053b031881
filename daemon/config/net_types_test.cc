// Covers: parsing and formatting of the address types used in the configuration, including
// the inputs people get wrong (leading zeros, missing parts, separators).
#include "config/net_types.h"

#include <gtest/gtest.h>

#include "config/key_suggestion.h"

namespace machnet {
namespace {

TEST(Ipv4Address, ParsesAndFormats) {
  auto a = Ipv4Address::parse("10.0.0.4");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->value, 0x0a000004u);
  EXPECT_EQ(a->to_string(), "10.0.0.4");
  EXPECT_EQ(Ipv4Address::parse("255.255.255.255")->value, 0xffffffffu);
  EXPECT_EQ(Ipv4Address::parse("0.0.0.0")->value, 0u);
}

TEST(Ipv4Address, RefusesMalformed) {
  for (const char* bad : {"", "10.0.0", "10.0.0.4.5", "10.0.0.256", "10.0.0.-1", "010.0.0.1", "a.b.c.d",
                          "10..0.1", "10.0.0.4 ", " 10.0.0.4", "10.0.0.4/24"}) {
    EXPECT_FALSE(Ipv4Address::parse(bad)) << bad;
  }
}

TEST(Ipv4Prefix, ParsesWithAndWithoutLength) {
  auto p = Ipv4Prefix::parse("192.168.1.7/24");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->length, 24);
  EXPECT_EQ(p->to_string(), "192.168.1.7/24");
  EXPECT_EQ(Ipv4Prefix::parse("192.168.1.7")->length, 32);
  EXPECT_EQ(Ipv4Prefix::parse("0.0.0.0/0")->length, 0);
  for (const char* bad : {"1.2.3.4/", "1.2.3.4/33", "1.2.3.4/x", "/24", "1.2.3/24"}) EXPECT_FALSE(Ipv4Prefix::parse(bad)) << bad;
}

TEST(MacAddress, AcceptsColonsDashesAndBare) {
  const std::string expected = "00:0d:3a:ab:cd:ef";
  EXPECT_EQ(MacAddress::parse("00:0d:3a:ab:cd:ef")->to_string(), expected);
  EXPECT_EQ(MacAddress::parse("00-0D-3A-AB-CD-EF")->to_string(), expected);
  EXPECT_EQ(MacAddress::parse("000D3AABCDEF")->to_string(), expected);
  for (const char* bad : {"", "00:0d:3a:ab:cd", "00:0d:3a:ab:cd:eg", "00:0d-3a:ab:cd:ef", "000d3aabcde", "00:0d:3a:ab:cd:ef:01"})
    EXPECT_FALSE(MacAddress::parse(bad)) << bad;
}

TEST(PciAddress, ParsesWithAndWithoutDomain) {
  auto p = PciAddress::parse("0000:00:08.0");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->device, 8);
  EXPECT_EQ(p->to_string(), "0000:00:08.0");
  EXPECT_EQ(PciAddress::parse("3a:1f.7")->to_string(), "0000:3a:1f.7");
  EXPECT_EQ(PciAddress::parse("c0de:3a:1f.7")->domain, 0xc0deu);
  for (const char* bad : {"", "00:08", "0000:00:20.0", "0000:00:08.8", "00000:00:08.0", "0000:00:08:0", "zz:00.0"})
    EXPECT_FALSE(PciAddress::parse(bad)) << bad;
}

TEST(KeySuggestion, EditDistance) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("mode", "mode"), 0u);
  EXPECT_EQ(edit_distance("mdoe", "mode"), 2u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(did_you_mean("moed", {"mode", "mac", "pci"}), "; did you mean \"mode\"?");
  EXPECT_EQ(did_you_mean("qqqqqq", {"mode", "mac", "pci"}), "");
}

}  // namespace
}  // namespace machnet
