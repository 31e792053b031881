// Turns a Config back into data: the effective configuration that `machnetctl config`
// shows, and the list of keys that differ between two configurations (for SIGHUP reload).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"

namespace machnet {

// {"daemon": {"log_level": "info", ...}, "nic": {...}, ...}: every key, defaults included.
nlohmann::json config_to_json(const Config& config);

// The same as TOML text, loadable by load_config_string().
std::string config_to_toml(const Config& config);

// "section.key" for every key whose value differs between `before` and `after`.
std::vector<std::string> changed_keys(const Config& before, const Config& after);

// "section.key" for every key the daemon knows, in schema order.
std::vector<std::string> all_config_keys();

}  // namespace machnet
