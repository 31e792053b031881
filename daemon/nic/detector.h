// Detection from end to end, changing nothing: the cloud (DMI, confirmed by the metadata
// service, or forced by [cloud] provider), the instance, every NIC with why it was chosen or
// skipped, the dedicated NIC's MAC and IPv4 address, and the binding plan. `machnetd
// --detect`, `machnetctl detect` and daemon start all use it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "nic/binding_plan.h"
#include "nic/env.h"
#include "nic/metadata.h"
#include "nic/nic_choice.h"

namespace machnet::nic {

struct Detection {
  CloudProvider cloud = CloudProvider::kNone;
  std::string cloud_reason;          // how the cloud was decided
  std::optional<InstanceMetadata> metadata;
  std::string metadata_error;        // why the metadata service could not be used
  std::chrono::milliseconds metadata_time{0};  // spent asking the metadata service
  bool config_fallback = false;      // the NIC came from [nic] because metadata failed
  NicChoice choice;
  std::optional<MacAddress> mac;     // of the chosen NIC
  std::optional<Ipv4Prefix> ip;      // of the chosen NIC: [nic] ip, else metadata, else its own
  std::string ip_source;             // where `ip` came from, or why none is known
  std::optional<uint32_t> mtu;       // from metadata (GCP) or the interface
  std::optional<BindingPlan> plan;
  std::string error;                 // set when the daemon cannot use any NIC

  bool ok() const { return error.empty() && choice.chosen && plan && plan->usable(); }
  const NicVerdict* chosen() const { return choice.chosen ? &choice.nics[*choice.chosen] : nullptr; }
  nlohmann::json to_json() const;
};

Detection detect(Env& env, const Config& config);

// Builds the real Env the daemon uses for `config` ([testing] roots, metadata URL, timeout).
RealEnvOptions env_options(const Config& config);

}  // namespace machnet::nic
