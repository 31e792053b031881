// Reads machnet.toml into a validated Config. Every problem is reported with the file, line,
// column and key it concerns, and all problems of a file are reported, not just the first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace machnet {

struct ConfigError {
  std::string file;
  uint32_t line = 0;  // 1-based; 0 when the error concerns the file as a whole
  uint32_t column = 0;
  std::string key;  // "section.key", or "" for syntax errors
  std::string message;

  // "machnet.toml:12:8: nic.mode: expected one of "auto", ... got "fast""
  std::string to_string() const;
};

struct ConfigLoadResult {
  std::optional<Config> config;  // set exactly when errors is empty
  std::vector<ConfigError> errors;
};

// Reads and validates the file at `path`.
ConfigLoadResult load_config_file(const std::string& path);

// Parses and validates TOML text; `source_name` is used as the file name in errors.
ConfigLoadResult load_config_string(std::string_view toml_text, std::string_view source_name);

}  // namespace machnet
