#include "nic/state_record.h"

#include <cctype>
#include <string_view>

#include <fmt/format.h>

#include "config/net_types.h"

namespace machnet::nic {

namespace {

// The record's fields become sysfs path components and `ip` arguments. The file is root's,
// but a record edited by hand, left by another version or damaged must not steer writes
// anywhere else: each field is held to the exact shape the daemon writes (row 11 of the
// security issue). Returns why not, or nullptr.
// Plain character checks rather than std::regex: GCC 12's <regex> trips -Wmaybe-uninitialized
// in the sanitizer build, and these shapes are simple.
bool all_of(std::string_view s, bool (*ok)(char)) {
  for (char c : s)
    if (!ok(c)) return false;
  return true;
}
bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'; }
bool is_ifname_char(char c) { return is_name_char(c) || c == '@'; }

// "hhhh:hh:hh.d" with d 0-7.
bool is_pci_address(std::string_view s) {
  return s.size() == 12 && s[4] == ':' && s[7] == ':' && s[10] == '.' && all_of(s.substr(0, 4), is_hex) &&
         all_of(s.substr(5, 2), is_hex) && all_of(s.substr(8, 2), is_hex) && s[11] >= '0' && s[11] <= '7';
}
// 8-4-4-4-12 hex digits.
bool is_guid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}
bool is_mac(std::string_view s) {
  if (s.size() != 17) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (i % 3 == 2 ? s[i] != ':' : !is_hex(s[i])) return false;
  return true;
}
// A kernel driver name: letters, digits, '_', '.', '-'; not starting with '.' or '-'.
bool is_driver(std::string_view s) {
  return !s.empty() && s.size() <= 64 && s[0] != '.' && s[0] != '-' && all_of(s, is_name_char);
}
// A Linux interface name: 1-15 bytes, no '/', ':' or white space; not an option, not . or ..
bool is_ifname(std::string_view s) {
  return !s.empty() && s.size() <= 15 && s[0] != '-' && s != "." && s != ".." && all_of(s, is_ifname_char);
}

const char* invalid_field(const StateRecord& r) {
  if (r.bus == "pci" ? !is_pci_address(r.bus_address) : !is_guid(r.bus_address))
    return "bus_address is not a PCI address (0000:00:06.0) or a VMBus GUID";
  if (!is_driver(r.original_driver)) return "original_driver is not a driver name";
  if (!is_driver(r.target_driver)) return "target_driver is not a driver name";
  if (!r.ifname.empty() && !is_ifname(r.ifname)) return "ifname is not an interface name";
  if (!r.mac.empty() && !is_mac(r.mac)) return "mac is not a MAC address";
  if (r.mtu != 0 && (r.mtu < 68 || r.mtu > 65535)) return "mtu is outside 68-65535";
  for (const auto& a : r.addresses) {
    const auto slash = a.find('/');
    if (slash == std::string::npos || !Ipv4Address::parse(a.substr(0, slash))) return "an address is not IPv4/prefix";
    const std::string len = a.substr(slash + 1);
    if (len.empty() || len.size() > 2 || len.find_first_not_of("0123456789") != std::string::npos || std::stoi(len) > 32)
      return "an address has no prefix length 0-32";
  }
  return nullptr;
}

}  // namespace

nlohmann::json StateRecord::to_json() const {
  nlohmann::json route_list = nlohmann::json::array();
  for (const auto& r : routes) route_list.push_back({{"gateway", r.gateway}, {"metric", r.metric}});
  return {{"routes", route_list}, {"version", 1},          {"bus", bus},
          {"bus_address", bus_address}, {"original_driver", original_driver},
          {"target_driver", target_driver}, {"ifname", ifname},
          {"mac", mac},             {"mtu", mtu},
          {"up", up},               {"addresses", addresses},
          {"noiommu", noiommu}};
}

Result<StateRecord> StateRecord::from_json(const nlohmann::json& j) {
  try {
    if (!j.is_object() || j.at("version").get<int>() != 1) return make_error("not a version 1 NIC state record");
    StateRecord r;
    r.bus = j.at("bus").get<std::string>();
    r.bus_address = j.at("bus_address").get<std::string>();
    r.original_driver = j.at("original_driver").get<std::string>();
    r.target_driver = j.at("target_driver").get<std::string>();
    r.ifname = j.value("ifname", std::string());
    r.mac = j.value("mac", std::string());
    r.mtu = j.value("mtu", 0u);
    r.up = j.value("up", false);
    r.addresses = j.value("addresses", std::vector<std::string>());
    r.noiommu = j.value("noiommu", false);
    for (const auto& route : j.value("routes", nlohmann::json::array())) {
      RecordedRoute rr{route.at("gateway").get<std::string>(), route.at("metric").get<uint32_t>()};
      // It becomes an `ip route` argument: only a dotted address is acceptable.
      if (!Ipv4Address::parse(rr.gateway)) return make_error(fmt::format("route gateway \"{}\" is not an IPv4 address", rr.gateway));
      r.routes.push_back(std::move(rr));
    }
    // The record names sysfs paths; refuse anything that could climb out of the bus folder.
    for (const auto* field : {&r.bus, &r.bus_address, &r.original_driver, &r.target_driver})
      if (field->empty() || field->find('/') != std::string::npos || *field == "..")
        return make_error(fmt::format("field value \"{}\" is not a plain name", *field));
    if (r.bus != "pci" && r.bus != "vmbus") return make_error(fmt::format("unknown bus \"{}\"", r.bus));
    if (const char* why = invalid_field(r)) return make_error(why);
    return r;
  } catch (const nlohmann::json::exception& e) {
    return make_error(e.what());
  }
}

std::string state_path(const std::string& state_dir) { return state_dir + "/" + kStateFileName; }

Result<void> write_state(Env& env, const std::string& state_dir, const StateRecord& record) {
  return env.replace_file(state_path(state_dir), record.to_json().dump(2) + "\n");
}

Result<std::optional<StateRecord>> read_state(Env& env, const std::string& state_dir) {
  const std::string path = state_path(state_dir);
  if (!env.exists(path)) return std::optional<StateRecord>();
  auto text = env.read_file(path);
  if (!text) return text.error();
  auto json = nlohmann::json::parse(*text, nullptr, false);
  auto record = StateRecord::from_json(json);
  if (!record) return make_error(fmt::format("{}: {}; remove it once the NIC is back on its driver", path, record.error().message));
  return std::optional<StateRecord>(*record);
}

Result<void> remove_state(Env& env, const std::string& state_dir) {
  return env.remove_file(state_path(state_dir));
}

}  // namespace machnet::nic
