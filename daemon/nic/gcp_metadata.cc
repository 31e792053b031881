// GCP metadata server:
//   GET /computeMetadata/v1/instance/network-interfaces/?recursive=true
//   with header "Metadata-Flavor: Google"; a genuine answer carries the same header.
// Per NIC: mac, ip, mtu, subnetmask, gateway; nic0 (the first) is the primary. GCP's default
// MTU is 1460 when the answer has none.
#include <fmt/format.h>

#include "nic/metadata.h"

namespace machnet::nic {
namespace {

constexpr const char* kGcpInterfaces = "/computeMetadata/v1/instance/network-interfaces/?recursive=true";
constexpr const char* kGcpInstanceId = "/computeMetadata/v1/instance/id";
constexpr uint32_t kGcpDefaultMtu = 1460;

Result<HttpResponse> gcp_get(Env& env, const char* target) {
  HttpRequest request{"GET", target, {{"Metadata-Flavor", "Google"}}};
  auto response = metadata_request(env, request);
  if (!response) return response.error();
  const std::string url = env.metadata_url() + target;
  if (response->status != 200)
    return make_error(fmt::format("GCP metadata: GET {} answered HTTP {}", url, response->status));
  auto flavor = response->headers.find("metadata-flavor");
  if (flavor == response->headers.end() || flavor->second != "Google")
    return make_error(fmt::format("GCP metadata: GET {} answered without \"Metadata-Flavor: Google\"; not a GCP metadata server", url));
  return response;
}

}  // namespace

Result<InstanceMetadata> parse_gcp_interfaces(std::string_view json_text) {
  auto doc = nlohmann::json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_array()) return make_error("GCP metadata: network-interfaces is not a JSON array");
  InstanceMetadata out;
  out.provider = CloudProvider::kGcp;
  int index = 0;
  for (const auto& iface : doc) {
    if (!iface.is_object()) return make_error(fmt::format("GCP metadata: interface {} is not an object", index));
    MetadataNic nic;
    nic.index = index;
    nic.primary = index == 0;
    ++index;
    const std::string mac_text = iface.value("mac", std::string());
    auto mac = MacAddress::parse(mac_text);
    if (!mac) return make_error(fmt::format("GCP metadata: interface {} mac \"{}\" is not a MAC address", nic.index, mac_text));
    nic.mac = *mac;
    if (iface.contains("ip")) {
      const std::string ip_text = iface["ip"].is_string() ? iface["ip"].get<std::string>() : "";
      auto ip = Ipv4Address::parse(ip_text);
      if (!ip) return make_error(fmt::format("GCP metadata: interface {} ip \"{}\" is not an IPv4 address", nic.index, ip_text));
      nic.ipv4.push_back(*ip);
    }
    if (iface.contains("subnetmask") && iface["subnetmask"].is_string()) {
      nic.prefix = netmask_prefix(iface["subnetmask"].get<std::string>());
      if (!nic.prefix) return make_error(fmt::format("GCP metadata: interface {} subnetmask \"{}\" is not a netmask", nic.index, iface["subnetmask"].get<std::string>()));
    }
    if (iface.contains("gateway") && iface["gateway"].is_string())
      if (auto gw = Ipv4Address::parse(iface["gateway"].get<std::string>())) nic.gateway = *gw;
    nic.mtu = kGcpDefaultMtu;
    if (iface.contains("mtu")) {
      if (!iface["mtu"].is_number_unsigned() || iface["mtu"].get<uint64_t>() < 576 || iface["mtu"].get<uint64_t>() > 9216)
        return make_error(fmt::format("GCP metadata: interface {} mtu {} is not a plausible MTU", nic.index, iface["mtu"].dump()));
      nic.mtu = iface["mtu"].get<uint32_t>();
    }
    out.nics.push_back(std::move(nic));
  }
  return out;
}

Result<InstanceMetadata> fetch_gcp(Env& env) {
  auto response = gcp_get(env, kGcpInterfaces);
  if (!response) return response.error();
  auto parsed = parse_gcp_interfaces(response->body);
  if (!parsed) return make_error(fmt::format("{} (from {}{})", parsed.error().message, env.metadata_url(), kGcpInterfaces));
  // The instance id is for display only: its absence does not fail detection.
  if (auto id = gcp_get(env, kGcpInstanceId)) parsed->instance_id = id->body;
  return parsed;
}

}  // namespace machnet::nic
