// Azure Instance Metadata Service:
//   GET /metadata/instance?api-version=2021-02-01   with header "Metadata: true"
// network.interface[i]: macAddress (12 hex digits, no separators),
// ipv4.ipAddress[j].privateIpAddress, ipv4.subnet[k].address / .prefix. Interface 0 is the
// primary NIC. compute.vmId / compute.vmSize name the instance.
#include <fmt/format.h>

#include "nic/metadata.h"

namespace machnet::nic {
namespace {

constexpr const char* kAzureTarget = "/metadata/instance?api-version=2021-02-01";

std::string text_at(const nlohmann::json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_string()) return "";
  return object[key].get<std::string>();
}

}  // namespace

Result<InstanceMetadata> parse_azure_instance(std::string_view json_text) {
  auto doc = nlohmann::json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return make_error("Azure metadata: the answer is not a JSON object");
  InstanceMetadata out;
  out.provider = CloudProvider::kAzure;
  if (doc.contains("compute")) {
    out.instance_id = text_at(doc["compute"], "vmId");
    out.instance_type = text_at(doc["compute"], "vmSize");
  }
  const auto network = doc.value("network", nlohmann::json::object());
  if (!network.is_object() || !network.contains("interface") || !network["interface"].is_array())
    return make_error("Azure metadata: no network.interface array");
  int index = 0;
  for (const auto& iface : network["interface"]) {
    MetadataNic nic;
    nic.index = index;
    nic.primary = index == 0;
    ++index;
    const std::string mac_text = text_at(iface, "macAddress");
    auto mac = MacAddress::parse(mac_text);
    if (!mac) return make_error(fmt::format("Azure metadata: network.interface[{}].macAddress \"{}\" is not a MAC address", nic.index, mac_text));
    nic.mac = *mac;
    const auto ipv4 = iface.is_object() ? iface.value("ipv4", nlohmann::json::object()) : nlohmann::json::object();
    if (ipv4.is_object() && ipv4.contains("ipAddress") && ipv4["ipAddress"].is_array()) {
      for (const auto& entry : ipv4["ipAddress"]) {
        const std::string ip_text = text_at(entry, "privateIpAddress");
        auto ip = Ipv4Address::parse(ip_text);
        if (!ip) return make_error(fmt::format("Azure metadata: interface {} privateIpAddress \"{}\" is not an IPv4 address", nic.index, ip_text));
        nic.ipv4.push_back(*ip);
      }
    }
    if (ipv4.is_object() && ipv4.contains("subnet") && ipv4["subnet"].is_array() && !ipv4["subnet"].empty()) {
      const std::string prefix_text = text_at(ipv4["subnet"][0], "prefix");
      try {
        size_t used = 0;
        const int prefix = std::stoi(prefix_text, &used);
        if (used != prefix_text.size() || prefix < 0 || prefix > 32) throw std::invalid_argument("range");
        nic.prefix = static_cast<uint8_t>(prefix);
      } catch (const std::exception&) {
        return make_error(fmt::format("Azure metadata: interface {} subnet prefix \"{}\" is not 0..32", nic.index, prefix_text));
      }
    }
    out.nics.push_back(std::move(nic));
  }
  return out;
}

Result<InstanceMetadata> fetch_azure(Env& env) {
  HttpRequest request{"GET", kAzureTarget, {{"Metadata", "true"}}};
  auto response = metadata_request(env, request);
  if (!response) return response.error();
  const std::string url = env.metadata_url() + kAzureTarget;
  if (response->status != 200)
    return make_error(fmt::format("Azure metadata: GET {} answered HTTP {}", url, response->status));
  auto parsed = parse_azure_instance(response->body);
  if (!parsed) return make_error(fmt::format("{} (from {})", parsed.error().message, url));
  return parsed;
}

}  // namespace machnet::nic
