// What the cloud's instance metadata service says about this VM and its NICs, in one shape
// for the three clouds. Each cloud's client (azure_metadata.cc, aws_metadata.cc,
// gcp_metadata.cc) fills it; every field of the answer is checked before use.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "config/net_types.h"
#include "nic/env.h"
#include "util/result.h"

namespace machnet::nic {

struct MetadataNic {
  MacAddress mac;
  std::vector<Ipv4Address> ipv4;      // private addresses, first one is the primary address
  std::optional<uint8_t> prefix;      // subnet prefix length
  std::optional<Ipv4Address> gateway;
  std::optional<uint32_t> mtu;
  bool primary = false;               // the NIC the VM is reached by (Azure index 0, AWS
                                      // device-number 0, GCP nic0)
  int index = 0;                      // position in the service's list / device number
};

struct InstanceMetadata {
  CloudProvider provider = CloudProvider::kNone;
  std::string instance_id;
  std::string instance_type;
  std::vector<MetadataNic> nics;
};

// Retries: a transport failure, 410 (Azure IMDS early after boot), 429 (rate-limited) and 5xx
// are tried again after a pause that doubles from kMetadataFirstPause (or the service's
// Retry-After, when it sends one and it fits), for as long as the budget lasts: one request
// with its retries spends at most kMetadataBudgetTimeouts x [cloud] metadata_timeout_ms
// (plus the attempt under way). Any other answer is final.
inline constexpr int kMetadataBudgetTimeouts = 3;
inline constexpr std::chrono::milliseconds kMetadataFirstPause{100};

// Whether an HTTP status is worth asking again.
bool retryable_status(unsigned status);

// GETs (or PUTs) with the retry rule above; the error names the URL and the last failure.
Result<HttpResponse> metadata_request(Env& env, const HttpRequest& request);

// Fetches and parses the answers of one cloud.
Result<InstanceMetadata> fetch_azure(Env& env);
Result<InstanceMetadata> fetch_aws(Env& env);
Result<InstanceMetadata> fetch_gcp(Env& env);
Result<InstanceMetadata> fetch_metadata(Env& env, CloudProvider provider);

// Parsers of the documented formats, separate from the transport so they are tested on
// recorded answers directly.
Result<InstanceMetadata> parse_azure_instance(std::string_view json_text);
Result<InstanceMetadata> parse_gcp_interfaces(std::string_view json_text);

// "255.255.240.0" -> 20; nullopt when not a contiguous netmask.
std::optional<uint8_t> netmask_prefix(std::string_view netmask);

nlohmann::json to_json(const MetadataNic& nic);

}  // namespace machnet::nic
