// The daemon's side of [nic] mode = "auto": at start, give back a NIC a crashed predecessor
// left bound, detect, apply the binding plan; at stop, restore when [nic] restore_on_stop.
// Not on any hot path; status() and detect_now() may be called from the control thread.
#pragma once

#include <memory>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "nic/detector.h"
#include "nic/env.h"
#include "nic/port_target.h"
#include "util/result.h"

namespace machnet::nic {

class NicManager {
 public:
  explicit NicManager(Config config);
  // Tests pass the Env options of a fake tree (with its kernel stand-in).
  NicManager(Config config, RealEnvOptions options);

  // An error means the daemon must not start (a cloud NIC was expected and cannot be used).
  // No cloud and no NIC named in [nic] is not an error: the daemon runs without a NIC.
  Result<void> start();
  void stop();

  // After start(): the NIC the DPDK port is to open (nullopt: none was chosen).
  Result<std::optional<PortTarget>> port_target() const;

  nlohmann::json status() const;     // cloud and chosen NIC, for `machnetctl status`
  nlohmann::json detect_now() const;  // a fresh detection that changes nothing

 private:
  const Config config_;
  const RealEnvOptions options_;
  std::unique_ptr<RealEnv> env_;
  mutable std::mutex mutex_;  // guards the members below
  std::optional<Detection> detection_;
  bool applied_ = false;
  std::string note_;  // what happened, for status
};

}  // namespace machnet::nic
