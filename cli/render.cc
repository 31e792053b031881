#include "render.h"

#include <algorithm>

#include <fmt/format.h>

#include "admin/snapshots_json.h"
#include "prometheus.h"

namespace machnetctl {

void print_fields(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [label, value] : fields) width = std::max(width, label.size());
  for (const auto& [label, value] : fields) out << fmt::format("  {:>{}}: {}\n", label, width, value);
}

void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(header.size());
  for (size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      line += (i + 1 == widths.size()) ? cell : fmt::format("{:<{}}  ", cell, widths[i]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  };
  print_row(header);
  for (const auto& row : rows) print_row(row);
}

std::string scalar_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  if (value.is_null()) return "-";
  if (value.is_array()) {
    std::string text = "[";
    for (const auto& element : value) text += (text.size() > 1 ? ", " : "") + scalar_text(element);
    return text + "]";
  }
  return value.dump();
}

std::string duration_text(double seconds) {
  auto s = static_cast<uint64_t>(seconds);
  if (s < 60) return fmt::format("{:.1f}s", seconds);
  if (s < 3600) return fmt::format("{}m {:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h {:02}m {:02}s", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}d {}h {:02}m", s / 86400, s / 3600 % 24, s / 60 % 60);
}

namespace {

// Three significant digits at most past the first unit: "1.5", "15.2", "152".
std::string scaled(double value, double base, const char* const* units, size_t n, const char* sep) {
  size_t u = 0;
  while (value >= base && u + 1 < n) {
    value /= base;
    ++u;
  }
  if (u == 0) return fmt::format("{:.0f}{}{}", value, units[0][0] ? sep : "", units[0]);
  return fmt::format("{:.1f}{}{}", value, sep, units[u]);
}

const nlohmann::json kNone;

// The member `key` of an object, or null.
const nlohmann::json& member(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) ? j[key] : kNone;
}

}  // namespace

std::string bytes_text(const nlohmann::json& value) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (!value.is_number()) return scalar_text(value);
  return scaled(value.get<double>(), 1024, kUnits, std::size(kUnits), " ");
}

std::string count_text(const nlohmann::json& value) {
  static const char* const kUnits[] = {"", "K", "M", "G", "T"};
  if (!value.is_number()) return scalar_text(value);
  return scaled(value.get<double>(), 1000, kUnits, std::size(kUnits), "");
}

std::string engines_text(const nlohmann::json& engines) {
  // Daemons before the engine rows sent the number of engines.
  if (!engines.is_array()) return scalar_text(engines);
  std::string each;
  for (const auto& e : engines.get<std::vector<machnet::admin::EngineRow>>())
    each += fmt::format("{}{} on {}", each.empty() ? "" : ", ", e.id,
                        e.core < 0 ? std::string("any core") : fmt::format("core {}", e.core));
  return each.empty() ? std::to_string(engines.size()) : fmt::format("{} ({})", engines.size(), each);
}

// One row per engine: where it runs, what it serves, how hard it polls, what it handed over,
// and how its idle spins ended (caught the next work / ran out).
void print_engines(std::ostream& out, const nlohmann::json& engines) {
  if (!engines.is_array() || engines.empty()) return;
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : engines.get<std::vector<machnet::admin::EngineRow>>())
    rows.push_back({std::to_string(e.id), e.core < 0 ? "any" : std::to_string(e.core), std::to_string(e.queue),
                    std::to_string(e.flows), std::to_string(e.channels), fmt::format("{:.0f}", e.loops_per_s),
                    fmt::format("{:.0f}%", 100 * e.busy_fraction), std::to_string(e.steered_in),
                    std::to_string(e.steered_out), std::to_string(e.steer_drops),
                    fmt::format("{}/{}", e.spins_caught, e.spins_expired)});
  print_table(out, {"ENGINE", "CORE", "QUEUE", "FLOWS", "CHANNELS", "LOOPS/S", "BUSY", "STEERED IN", "STEERED OUT",
                    "STEER DROPS", "SPINS CAUGHT/OUT"},
              rows);
}

void print_status(std::ostream& out, const nlohmann::json& d) {
  auto get = [&](const char* key) { return d.contains(key) ? scalar_text(d[key]) : std::string("-"); };
  out << fmt::format("machnetd {} - {}\n", get("version"), get("state"));
  std::vector<std::pair<std::string, std::string>> fields = {
      {"PID", get("pid")},
      {"Uptime", d.contains("uptime_s") ? duration_text(d["uptime_s"].get<double>()) : "-"},
      {"Config", get("config_path")},
      {"Log level", get("log_level")},
      {"NIC mode", get("nic_mode")},
      {"Cloud", get("cloud")},
      {"NIC", d.contains("nic") && d["nic"].is_object()
                  ? fmt::format("{} mac {} ip {} ({} {}, {})", scalar_text(d["nic"].value("name", nlohmann::json())),
                                scalar_text(d["nic"].value("mac", nlohmann::json())),
                                scalar_text(d["nic"].value("ip", nlohmann::json())),
                                scalar_text(d["nic"].value("bus_address", nlohmann::json())),
                                scalar_text(d["nic"].value("plan", nlohmann::json())),
                                d["nic"].value("bound_by_daemon", false) ? "bound by machnetd" : "not rebound")
                  : "-"},
      {"NIC driver", d.contains("nic") && d["nic"].is_object()
                         ? fmt::format("{} (originally {})", scalar_text(d["nic"].value("driver", nlohmann::json())),
                                       scalar_text(d["nic"].value("original_driver", nlohmann::json())))
                         : "-"},
      {"Engines", d.contains("engines") ? engines_text(d["engines"]) : "-"},
      {"Channels", get("channels")},
      {"Reloads", get("reloads")},
      {"Admin socket", get("admin_socket")},
      {"App socket", get("app_socket")},
  };
  print_fields(out, fields);
  print_engines(out, d.contains("engines") ? d["engines"] : nlohmann::json());
}

void print_config(std::ostream& out, const nlohmann::json& data) {
  bool first = true;
  for (const auto& [section, keys] : data.items()) {
    if (!keys.is_object()) continue;
    out << (first ? "" : "\n") << '[' << section << "]\n";
    first = false;
    size_t width = 0;
    for (const auto& [key, value] : keys.items()) width = std::max(width, key.size());
    for (const auto& [key, value] : keys.items()) out << fmt::format("{:<{}} = {}\n", key, width, value.dump());
  }
}

void print_reload(std::ostream& out, const nlohmann::json& data) {
  out << "configuration reloaded\n";
  auto list = [&](const char* key, const char* label) {
    if (!data.contains(key) || data[key].empty()) return;
    out << label << '\n';
    for (const auto& k : data[key]) out << "  " << k.get<std::string>() << '\n';
  };
  list("applied", "applied now:");
  list("need_restart", "changed, applied after a restart (systemctl restart machnet):");
  if ((!data.contains("applied") || data["applied"].empty()) &&
      (!data.contains("need_restart") || data["need_restart"].empty()))
    out << "no changes\n";
}

void print_channels(std::ostream& out, const nlohmann::json& data) {
  const auto table = data.get<machnet::admin::ChannelTable>();
  std::vector<std::vector<std::string>> rows;
  for (const machnet::admin::ChannelRow& c : table.channels) {
    std::string ports, drops;
    for (uint16_t port : c.listening) ports += (ports.empty() ? "" : ",") + std::to_string(port);
    for (const auto& [reason, count] : c.drops)
      if (count > 0) drops += fmt::format("{}{}={}", drops.empty() ? "" : " ", reason, count);
    auto ring = [](const machnet::admin::RingUse& r) { return fmt::format("{}/{}", r.used, r.slots); };
    rows.push_back({std::to_string(c.id), std::to_string(c.engine), std::to_string(c.pid), std::to_string(c.uid), c.command,
                    ports.empty() ? "-" : ports, ring(c.to_daemon), ring(c.to_app), std::to_string(c.msgs_in),
                    std::to_string(c.bytes_in), std::to_string(c.msgs_out), std::to_string(c.bytes_out),
                    drops.empty() ? "0" : drops});
  }
  out << table.channels.size() << " channel(s) of " << table.applications << " application(s), limit "
      << table.max_channels << "\n";
  if (rows.empty()) return;
  // "in" is what the application sent into the daemon, "out" what the daemon delivered to it.
  print_table(out, {"ID", "ENG", "PID", "UID", "COMMAND", "LISTEN", "TX RING", "RX RING", "MSGS IN", "BYTES IN", "MSGS OUT",
                    "BYTES OUT", "DROPS"},
              rows);
}

// How often each [limits] cap was hit (docs/security.md).
void print_limits(std::ostream& out, const nlohmann::json& data) {
  const nlohmann::json& limits = member(data, "limits");
  if (!limits.is_object()) return;
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& [key, value] : limits.items()) fields.emplace_back(key, scalar_text(value));
  out << "limits hit\n";
  print_fields(out, fields);
}

void print_stats(std::ostream& out, const nlohmann::json& data) {
  if (!data.contains("port") || !data["port"].is_object()) {
    out << "no port (NIC mode none): nothing crosses a wire\n";
    print_limits(out, data);
    return;
  }
  const auto& port = data["port"];
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& [key, value] : port.items())
    if (!value.is_object()) fields.emplace_back(key, scalar_text(value));
  out << "port\n";
  print_fields(out, fields);
  if (port.contains("device")) {
    fields.clear();
    for (const auto& [key, value] : port["device"].items()) fields.emplace_back(key, scalar_text(value));
    out << "device counters\n";
    print_fields(out, fields);
  }
  fields.clear();
  if (port.contains("drops"))
    for (const auto& [reason, count] : port["drops"].items())
      if (count.is_number() && count.get<uint64_t>() > 0) fields.emplace_back(reason, scalar_text(count));
  out << "drops by reason" << (fields.empty() ? ": none\n" : "\n");
  print_fields(out, fields);
  print_limits(out, data);
}

void print_flows(std::ostream& out, const nlohmann::json& data) {
  const nlohmann::json& flows = member(data, "flows");
  if (!flows.is_array() || flows.empty()) {
    out << "no flows\n";
    return;
  }
  auto endpoint = [](const nlohmann::json& f, const char* ip, const char* port) {
    const nlohmann::json& a = member(f, ip);
    const nlohmann::json& p = member(f, port);
    if (a.is_null() && p.is_null()) return std::string("-");
    return scalar_text(a) + ":" + scalar_text(p);
  };
  std::vector<std::vector<std::string>> rows;
  for (const nlohmann::json& f : flows) {
    std::string state = scalar_text(member(f, "state"));
    const nlohmann::json& error = member(f, "error");
    if (error.is_string() && !error.get<std::string>().empty()) state += " (" + error.get<std::string>() + ")";
    // No RTT sample yet reads as 0 on the wire: show it as unknown.
    const nlohmann::json& srtt = member(f, "srtt_us");
    rows.push_back({endpoint(f, "local_ip", "local_port"), endpoint(f, "remote_ip", "remote_port"), state,
                    scalar_text(member(f, "channel")), scalar_text(member(f, "engine")), scalar_text(member(f, "pid")),
                    scalar_text(member(f, "command")), count_text(member(f, "tx_msgs")),
                    bytes_text(member(f, "tx_bytes")), count_text(member(f, "rx_msgs")),
                    bytes_text(member(f, "rx_bytes")), count_text(member(f, "retransmissions")),
                    srtt.is_number() && srtt.get<double>() == 0 ? "-" : scalar_text(srtt),
                    scalar_text(member(f, "cwnd")), scalar_text(member(f, "peer_window"))});
  }
  const nlohmann::json& count = member(data, "count");
  const size_t n = count.is_number_unsigned() ? count.get<size_t>() : flows.size();
  out << n << (n == 1 ? " flow\n" : " flows\n");
  // TX is what this side sent to the peer, RX what it received from it.
  print_table(out, {"LOCAL", "REMOTE", "STATE", "CH", "ENG", "PID", "COMMAND", "TX MSGS", "TX BYTES", "RX MSGS", "RX BYTES",
                    "RETRANS", "RTT(us)", "CWND", "RWND"},
              rows);
}

void print_arp(std::ostream& out, const nlohmann::json& data) {
  const auto arp = data.get<machnet::admin::ArpSnapshot>();
  std::vector<std::vector<std::string>> rows;
  for (const machnet::admin::ArpEntry& e : arp.entries)
    rows.push_back({e.ip, e.mac, "resolved", duration_text(static_cast<double>(e.age_ms) / 1000)});
  // A pending address's age is how long it has been asked for.
  for (const machnet::admin::ArpPending& p : arp.pending)
    rows.push_back({p.ip, "-", "pending", duration_text(static_cast<double>(p.waiting_ms) / 1000)});
  if (rows.empty()) {
    out << "no ARP entries\n";
    return;
  }
  print_table(out, {"IP", "MAC", "STATE", "AGE"}, rows);
}

void print_stats_prometheus(std::ostream& out, const nlohmann::json& data) { out << stats_to_prometheus(data); }

}  // namespace machnetctl
