#include "nic/metadata.h"

#include <bit>

#include <fmt/format.h>

namespace machnet::nic {

Result<HttpResponse> metadata_request(Env& env, const HttpRequest& request) {
  std::string last;
  for (int attempt = 1; attempt <= kMetadataAttempts; ++attempt) {
    auto response = env.http(request);
    if (response && response->status < 500) return response;
    last = response ? fmt::format("{} {}{}: HTTP {}", request.method, env.metadata_url(), request.target,
                                  response->status)
                    : response.error().message;
    if (attempt < kMetadataAttempts) env.sleep_for(std::chrono::milliseconds(kMetadataRetryPauseMs));
  }
  return make_error(fmt::format("metadata service not usable after {} attempts: {}", kMetadataAttempts, last));
}

Result<InstanceMetadata> fetch_metadata(Env& env, CloudProvider provider) {
  switch (provider) {
    case CloudProvider::kAzure: return fetch_azure(env);
    case CloudProvider::kAws: return fetch_aws(env);
    case CloudProvider::kGcp: return fetch_gcp(env);
    default: return make_error("no metadata service for this provider");
  }
}

std::optional<uint8_t> netmask_prefix(std::string_view netmask) {
  auto address = Ipv4Address::parse(netmask);
  if (!address) return std::nullopt;
  const uint32_t mask = address->value;
  const int ones = std::popcount(mask);
  // Contiguous: the ones are all at the top.
  if (ones != 32 && (mask << ones) != 0) return std::nullopt;
  if (ones < 32 && mask != (ones == 0 ? 0u : ~0u << (32 - ones))) return std::nullopt;
  return static_cast<uint8_t>(ones);
}

nlohmann::json to_json(const MetadataNic& nic) {
  nlohmann::json ips = nlohmann::json::array();
  for (const auto& ip : nic.ipv4) ips.push_back(ip.to_string());
  return {{"mac", nic.mac.to_string()},
          {"ipv4", ips},
          {"prefix", nic.prefix ? nlohmann::json(*nic.prefix) : nlohmann::json()},
          {"gateway", nic.gateway ? nlohmann::json(nic.gateway->to_string()) : nlohmann::json()},
          {"mtu", nic.mtu ? nlohmann::json(*nic.mtu) : nlohmann::json()},
          {"primary", nic.primary},
          {"index", nic.index}};
}

}  // namespace machnet::nic
