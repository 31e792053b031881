// Human output for machnetctl: aligned key/value blocks and tables, in the manner of
// `systemctl status` and `ip -s link`.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace machnetctl {

// "  Label: value" lines with the labels right-aligned.
void print_fields(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& fields);

// A table with a header row; columns are as wide as their widest cell.
void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);

// A JSON scalar as a person reads it ("yes", "12", "auto", "[1, 2]").
std::string scalar_text(const nlohmann::json& value);

// "1h 02m 03s" from seconds.
std::string duration_text(double seconds);

void print_status(std::ostream& out, const nlohmann::json& data);
void print_config(std::ostream& out, const nlohmann::json& data);
void print_reload(std::ostream& out, const nlohmann::json& data);
// One row per channel: owner, listening ports, ring occupancy, traffic, drops by reason.
void print_channels(std::ostream& out, const nlohmann::json& data);
void print_stats(std::ostream& out, const nlohmann::json& data);

}  // namespace machnetctl
