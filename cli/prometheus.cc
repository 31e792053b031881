#include "prometheus.h"

#include <array>
#include <map>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace machnetctl {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Family {
  std::string name;
  std::string help;
  bool counter = false;
  std::vector<std::string> samples;
};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string escape_help(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// A label name: like a metric name without colons, and never the reserved "__" prefix.
std::string label_name(std::string_view text) {
  std::string name = prometheus_name(text);
  for (char& c : name)
    if (c == ':') c = '_';
  while (name.size() > 1 && name[0] == '_' && name[1] == '_') name.erase(0, 1);
  return name;
}

// "engines" -> "engine", "entries" -> "entry": the label an array's elements are told apart by.
std::string singular(std::string_view key) {
  std::string s(key);
  if (ends_with(s, "ies") && s.size() > 3) return s.substr(0, s.size() - 3) + "y";
  if (ends_with(s, "s") && !ends_with(s, "ss") && s.size() > 1) return s.substr(0, s.size() - 1);
  return s;
}

std::string value_text(const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  if (v.is_number_unsigned()) return fmt::format("{}", v.get<uint64_t>());
  if (v.is_number_integer()) return fmt::format("{}", v.get<int64_t>());
  return fmt::format("{}", v.get<double>());  // JSON has no NaN or infinities
}

std::string scalar_label(const nlohmann::json& v, size_t index) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return v.dump();
  return std::to_string(index);
}

class Converter {
 public:
  explicit Converter(std::string_view prefix) : prefix_(prefix) {}

  void walk(const nlohmann::json& v, const std::string& name, const std::string& path, std::string_view key,
            const Labels& labels) {
    if (v.is_number() || v.is_boolean()) {
      add(name, path, key, labels, v);
    } else if (v.is_object()) {
      for (const auto& [k, child] : v.items()) {
        const std::string child_name = name + "_" + prometheus_name(k);
        const std::string child_path = path.empty() ? k : path + "." + k;
        std::string label;
        std::string base = child_name;
        if (k == "drops") {
          label = "reason";
        } else if (const auto by = k.rfind("_by_"); by != std::string::npos && by > 0 && by + 4 < k.size()) {
          label = k.substr(by + 4);
          base = name + "_" + prometheus_name(k.substr(0, by));
        }
        if (!label.empty() && child.is_object()) {
          for (const auto& [lk, lv] : child.items()) {
            Labels with = labels;
            with.emplace_back(label_name(label), lk);
            walk(lv, base, child_path, k.substr(0, k.find("_by_")), with);
          }
        } else {
          walk(child, child_name, child_path, k, labels);
        }
      }
    } else if (v.is_array()) {
      const std::string label = label_name(singular(key));
      for (size_t i = 0; i < v.size(); ++i) {
        const nlohmann::json& element = v[i];
        if (!element.is_object()) continue;
        Labels with = labels;
        with.emplace_back(label, element.contains("id") ? scalar_label(element["id"], i) : std::to_string(i));
        nlohmann::json rest = element;
        rest.erase("id");
        walk(rest, name, path + "[]", key, with);
      }
    }
  }

  std::string text() const {
    std::string out;
    for (const Family& f : families_) {
      out += fmt::format("# HELP {} {}\n", f.name, escape_help(f.help));
      out += fmt::format("# TYPE {} {}\n", f.name, f.counter ? "counter" : "gauge");
      for (const std::string& s : f.samples) out += s;
    }
    return out;
  }

 private:
  void add(const std::string& base, const std::string& path, std::string_view key, const Labels& labels,
           const nlohmann::json& v) {
    const bool counter = !v.is_boolean() && prometheus_is_counter(key);
    std::string name = prometheus_name(std::string(prefix_) + base);
    if (counter && !ends_with(name, "_total")) name += "_total";
    auto [it, fresh] = index_.try_emplace(name, families_.size());
    if (fresh) {
      std::string help = "machnetd stats: " + path;
      for (size_t i = 0; i < labels.size(); ++i) help += (i ? " and " : ", by ") + labels[i].first;
      families_.push_back(Family{name, help, counter, {}});
    }
    std::string sample = name;
    if (!labels.empty()) {
      sample += '{';
      for (size_t i = 0; i < labels.size(); ++i)
        sample += fmt::format("{}{}=\"{}\"", i ? "," : "", labels[i].first, prometheus_label_value(labels[i].second));
      sample += '}';
    }
    families_[it->second].samples.push_back(sample + " " + value_text(v) + "\n");
  }

  std::string_view prefix_;
  std::vector<Family> families_;  // in the order first seen: a family's samples stay together
  std::map<std::string, size_t> index_;
};

}  // namespace

std::string prometheus_name(std::string_view text) {
  std::string name;
  for (const char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':';
    name += ok ? c : '_';
  }
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) name.insert(0, "_");
  return name;
}

std::string prometheus_label_value(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

bool prometheus_is_counter(std::string_view key) {
  // "msgs_in", "bytes_out": the direction does not change what is counted.
  for (const std::string_view direction : {"_in", "_out"})
    if (ends_with(key, direction)) key.remove_suffix(direction.size());
  static constexpr std::array<std::string_view, 24> kEventSuffixes = {
      "frames",   "packets", "bytes",   "msgs",    "messages",        "errors",       "drops",    "dropped",
      "missed",   "nombuf",  "mbuf",    "full",    "answered",        "learned",      "requests", "replies",
      "sent",     "received", "failures", "retransmissions", "retransmits", "timeouts", "reloads", "_total",
  };
  for (const auto suffix : kEventSuffixes)
    if (ends_with(key, suffix)) return true;
  return false;
}

std::string stats_to_prometheus(const nlohmann::json& stats, std::string_view prefix) {
  Converter converter(prefix);
  converter.walk(stats, "", "", "", {});
  return converter.text();
}

}  // namespace machnetctl
