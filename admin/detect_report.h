// Human rendering of a detection report (nic::Detection::to_json()), shared by `machnetd --detect`
// and `machnetctl detect`. Header-only on purpose: machnetctl does not link the daemon, and
// both must print the same thing. Depends on nlohmann-json and fmt only.
#pragma once

#include <ostream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace machnet::admin {

inline std::string report_text(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "-";
  const auto& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return v.dump();
}

inline void print_detection(std::ostream& out, const nlohmann::json& d) {
  out << fmt::format("Cloud:    {}\n", report_text(d, "cloud"));
  out << fmt::format("  how:    {}\n", report_text(d, "cloud_reason"));
  if (d.contains("metadata_error") && !d["metadata_error"].is_null())
    out << fmt::format("  metadata error: {}\n", d["metadata_error"].get<std::string>());
  const auto instance = d.value("instance", nlohmann::json());
  out << fmt::format("Instance: {} {}\n", report_text(instance, "id"), report_text(instance, "type"));
  out << "NICs:\n";
  for (const auto& n : d.value("nics", nlohmann::json::array())) {
    out << fmt::format("  {} {:<10} mac {:<17}  ip {:<18}  {} {:<36}  driver {:<14}  {}{}\n",
                       n.value("chosen", false) ? "*" : " ", report_text(n, "name"), report_text(n, "mac"),
                       report_text(n, "ip"), report_text(n, "bus"), report_text(n, "bus_address"),
                       report_text(n, "driver"), n.value("primary", false) ? "[primary] " : "", report_text(n, "reason"));
  }
  const auto plan = d.value("plan", nlohmann::json());
  if (plan.is_object()) {
    const std::string kind = report_text(plan, "kind");
    const std::string intended = report_text(plan, "intended");
    out << fmt::format("Plan:     {}{}{}\n", kind,
                       plan.value("to_driver", nlohmann::json()).is_string() ? " to " + plan["to_driver"].get<std::string>() : "",
                       kind == "refuse" && intended != "refuse" && intended != "-" ? " (would be " + intended + ")" : "");
    if (plan.value("dpdk_device", std::string()) != "") {
      std::string eal = plan["dpdk_device"].get<std::string>();
      for (const auto& arg : plan.value("dpdk_args", nlohmann::json::array())) eal += "," + arg.get<std::string>();
      out << fmt::format("  DPDK:   -a {}\n", eal);
    }
    for (const auto& step : plan.value("steps", nlohmann::json::array())) out << "  - " << step.get<std::string>() << '\n';
    for (const auto& note : plan.value("notes", nlohmann::json::array())) out << "  ! " << note.get<std::string>() << '\n';
    if (plan.contains("refusal") && plan["refusal"].is_string()) out << "  refused: " << plan["refusal"].get<std::string>() << '\n';
  }
  if (d.value("ok", false)) {
    const auto c = d.value("chosen", nlohmann::json());
    out << fmt::format("Result:   use {} (mac {}, ip {} from {})\n", report_text(c, "name"), report_text(c, "mac"),
                       report_text(c, "ip"), report_text(c, "ip_source"));
  } else {
    out << fmt::format("Result:   no usable NIC: {}\n", report_text(d, "error"));
  }
}

}  // namespace machnet::admin
