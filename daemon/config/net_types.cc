#include "config/net_types.h"

#include <charconv>

#include <fmt/format.h>

namespace machnet {
namespace {

// Parses an unsigned decimal or hex number that spans the whole of `text`.
template <typename T>
std::optional<T> parse_number(std::string_view text, int base, T max) {
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value, base);
  if (ec != std::errc() || ptr != end || value > max) return std::nullopt;
  return static_cast<T>(value);
}

}  // namespace

std::optional<Ipv4Address> Ipv4Address::parse(std::string_view text) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    const auto dot = text.find('.');
    const bool last = (i == 3);
    if (last != (dot == std::string_view::npos)) return std::nullopt;
    const auto part = text.substr(0, dot);
    // Leading zeros are refused: "010" is octal to inet_aton and decimal to people.
    if (part.size() > 1 && part[0] == '0') return std::nullopt;
    const auto octet = parse_number<uint8_t>(part, 10, 255);
    if (!octet) return std::nullopt;
    value = (value << 8) | *octet;
    if (!last) text.remove_prefix(dot + 1);
  }
  return Ipv4Address{value};
}

std::string Ipv4Address::to_string() const {
  return fmt::format("{}.{}.{}.{}", value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff,
                     value & 0xff);
}

std::optional<Ipv4Prefix> Ipv4Prefix::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto address = Ipv4Address::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  if (slash == std::string_view::npos) return Ipv4Prefix{*address, 32};
  const auto length = parse_number<uint8_t>(text.substr(slash + 1), 10, 32);
  if (!length) return std::nullopt;
  return Ipv4Prefix{*address, *length};
}

std::string Ipv4Prefix::to_string() const {
  return fmt::format("{}/{}", address.to_string(), length);
}

std::optional<MacAddress> MacAddress::parse(std::string_view text) {
  MacAddress mac;
  if (text.size() == 12) {  // "000d3a123456"
    for (size_t i = 0; i < 6; ++i) {
      const auto byte = parse_number<uint8_t>(text.substr(2 * i, 2), 16, 255);
      if (!byte) return std::nullopt;
      mac.bytes[i] = *byte;
    }
    return mac;
  }
  if (text.size() != 17) return std::nullopt;
  const char separator = text[2];
  if (separator != ':' && separator != '-') return std::nullopt;
  for (size_t i = 0; i < 6; ++i) {
    if (i < 5 && text[3 * i + 2] != separator) return std::nullopt;
    const auto byte = parse_number<uint8_t>(text.substr(3 * i, 2), 16, 255);
    if (!byte) return std::nullopt;
    mac.bytes[i] = *byte;
  }
  return mac;
}

std::string MacAddress::to_string() const {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", bytes[0], bytes[1], bytes[2],
                     bytes[3], bytes[4], bytes[5]);
}

std::optional<PciAddress> PciAddress::parse(std::string_view text) {
  PciAddress pci;
  // Optional "DDDD:" domain prefix: present when there are two colons.
  if (text.find(':') != text.rfind(':')) {
    const auto colon = text.find(':');
    const auto domain = parse_number<uint32_t>(text.substr(0, colon), 16, 0xffff);
    if (!domain || colon > 4) return std::nullopt;
    pci.domain = *domain;
    text.remove_prefix(colon + 1);
  }
  // "BB:DD.F"
  if (text.size() != 7 || text[2] != ':' || text[5] != '.') return std::nullopt;
  const auto bus = parse_number<uint8_t>(text.substr(0, 2), 16, 0xff);
  const auto device = parse_number<uint8_t>(text.substr(3, 2), 16, 0x1f);
  const auto function = parse_number<uint8_t>(text.substr(6, 1), 16, 0x7);
  if (!bus || !device || !function) return std::nullopt;
  pci.bus = *bus;
  pci.device = *device;
  pci.function = *function;
  return pci;
}

std::string PciAddress::to_string() const {
  return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", domain, bus, device, function);
}

}  // namespace machnet
