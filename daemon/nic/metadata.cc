#include "nic/metadata.h"

#include <algorithm>
#include <bit>
#include <cstdlib>

#include <fmt/format.h>

namespace machnet::nic {

bool retryable_status(unsigned status) { return status == 410 || status == 429 || status >= 500; }

namespace {

// "Retry-After: 2" (seconds; the HTTP-date form is not used by metadata services).
std::optional<std::chrono::milliseconds> retry_after(const HttpResponse& response) {
  auto it = response.headers.find("retry-after");
  if (it == response.headers.end()) return std::nullopt;
  char* end = nullptr;
  const unsigned long seconds = std::strtoul(it->second.c_str(), &end, 10);
  if (end == it->second.c_str() || *end != '\0') return std::nullopt;
  return std::chrono::milliseconds(seconds * 1000);
}

}  // namespace

Result<HttpResponse> metadata_request(Env& env, const HttpRequest& request) {
  const auto started = env.now();
  const auto deadline = started + kMetadataBudgetTimeouts * env.metadata_timeout();
  auto pause = kMetadataFirstPause;
  std::string last;
  int attempts = 0;
  for (;;) {
    ++attempts;
    auto response = env.http(request);
    if (response && !retryable_status(response->status)) return response;
    last = response ? fmt::format("{} {}{}: HTTP {}", request.method, env.metadata_url(), request.target, response->status)
                    : response.error().message;
    auto wait = pause;
    if (response)
      if (auto asked = retry_after(*response)) wait = std::max(wait, *asked);
    if (env.now() + wait >= deadline) break;
    env.sleep_for(wait);
    pause *= 2;
  }
  const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(env.now() - started);
  return make_error(fmt::format("metadata service not usable after {} attempts in {} ms: {}", attempts, spent.count(), last));
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
