#include "config/config.h"

#include "config/config_schema.h"

namespace machnet {
namespace {

template <typename E, size_t N>
const char* name_of(const std::array<std::pair<std::string_view, E>, N>& names, E value) {
  for (const auto& [name, v] : names)
    if (v == value) return name.data();  // the names are string literals: NUL-terminated
  return "?";
}

}  // namespace

const char* to_string(LogLevel level) { return name_of(config_schema::kLogLevels, level); }
const char* to_string(NicMode mode) { return name_of(config_schema::kNicModes, mode); }
const char* to_string(Polling polling) { return name_of(config_schema::kPollings, polling); }
const char* to_string(Hugepages hugepages) { return name_of(config_schema::kHugepages, hugepages); }
const char* to_string(CloudProvider provider) { return name_of(config_schema::kProviders, provider); }

std::optional<LogLevel> parse_log_level(std::string_view text) {
  for (const auto& [name, level] : config_schema::kLogLevels)
    if (name == text) return level;
  return std::nullopt;
}

}  // namespace machnet
