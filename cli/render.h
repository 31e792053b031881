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

// Human units: "512 B", "1.5 KiB", "3.0 MiB" for bytes; "999", "1.2K", "3.4M" for counts.
// A value that is not a number prints as scalar_text does ("-" when missing).
std::string bytes_text(const nlohmann::json& value);
std::string count_text(const nlohmann::json& value);

// `status` "engines": their number, then each engine's id and core ("2 (0 on core 2, 1 on
// core 3)"); a plain number from an older daemon prints as it is.
std::string engines_text(const nlohmann::json& engines);
void print_status(std::ostream& out, const nlohmann::json& data);
void print_config(std::ostream& out, const nlohmann::json& data);
void print_reload(std::ostream& out, const nlohmann::json& data);
// One row per channel: owner, listening ports, ring occupancy, traffic, drops by reason.
void print_channels(std::ostream& out, const nlohmann::json& data);
void print_stats(std::ostream& out, const nlohmann::json& data);
// One row per flow: addresses, state, owner, traffic both ways, retransmissions, RTT, cwnd.
// Fields the daemon does not send print as "-".
void print_flows(std::ostream& out, const nlohmann::json& data);
// Resolved neighbours and the addresses still being asked for.
void print_arp(std::ostream& out, const nlohmann::json& data);
// `stats --prometheus`: the text exposition format (prometheus.h).
void print_stats_prometheus(std::ostream& out, const nlohmann::json& data);

}  // namespace machnetctl
