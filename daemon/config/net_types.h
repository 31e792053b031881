// Address types that appear in the configuration (and later on the wire): parsed from text
// with a clear error, formatted back to the same text.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace machnet {

// An IPv4 address in host byte order.
struct Ipv4Address {
  uint32_t value = 0;
  auto operator<=>(const Ipv4Address&) const = default;

  static std::optional<Ipv4Address> parse(std::string_view text);
  std::string to_string() const;
};

// An IPv4 address with its prefix length, as written in "10.0.0.4/24".
struct Ipv4Prefix {
  Ipv4Address address;
  uint8_t length = 32;
  auto operator<=>(const Ipv4Prefix&) const = default;

  // Accepts "A.B.C.D/N" (0 <= N <= 32) and a bare "A.B.C.D" (taken as /32).
  static std::optional<Ipv4Prefix> parse(std::string_view text);
  std::string to_string() const;
};

// An Ethernet MAC address. Accepts "00:0d:3a:12:34:56", "00-0d-3a-12-34-56" and the
// separator-less "000d3a123456" that the Azure metadata service returns.
struct MacAddress {
  std::array<uint8_t, 6> bytes{};
  auto operator<=>(const MacAddress&) const = default;

  static std::optional<MacAddress> parse(std::string_view text);
  std::string to_string() const;  // lower case, colon separated
};

// A PCI address "DDDD:BB:DD.F" (domain optional on input: "BB:DD.F" means domain 0).
struct PciAddress {
  uint32_t domain = 0;
  uint8_t bus = 0;
  uint8_t device = 0;
  uint8_t function = 0;
  auto operator<=>(const PciAddress&) const = default;

  static std::optional<PciAddress> parse(std::string_view text);
  std::string to_string() const;  // "0000:00:08.0"
};

}  // namespace machnet
