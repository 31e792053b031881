#include "config/config_loader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "config/config_schema.h"
#include "config/key_suggestion.h"

namespace machnet {
namespace {

using config_schema::NameTable;
using config_schema::OptionalAddress;
using config_schema::Text;

struct Position {
  uint32_t line = 0;
  uint32_t column = 0;
};

Position position_of(const toml::source_region& region) {
  return {region.begin.line, region.begin.column};
}

// Keys that were replaced: an old file gets told what to write instead of a guess.
struct ReplacedKey {
  std::string_view section, key, hint;
};
constexpr ReplacedKey kReplacedKeys[] = {
    {"transport", "max_retransmits",
     "; it was replaced by give_up_ms, how long a flow retransmits without an acknowledgement before it is "
     "reset, in milliseconds (default 30000)"},
};

std::string replaced_or_close(std::string_view section, std::string_view key,
                              const std::vector<std::string_view>& known) {
  for (const ReplacedKey& r : kReplacedKeys)
    if (r.section == section && r.key == key) return std::string(r.hint);
  return did_you_mean(key, known);
}

const char* type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

template <typename E>
std::string list_names(NameTable<E> names) {
  std::string out;
  for (const auto& [name, value] : names) {
    if (!out.empty()) out += ", ";
    out += fmt::format("\"{}\"", name);
  }
  return out;
}

// Checks a string against a text rule; returns an error message or "".
std::string check_text(std::string_view value, Text rule) {
  switch (rule) {
    case Text::kAny:
      return "";
    case Text::kAbsolutePath:
      if (value.empty() || value.front() != '/') return "expected an absolute path";
      // Socket paths must fit sockaddr_un::sun_path (108 bytes with the terminator).
      if (value.size() > 107) return "path is longer than 107 bytes";
      return "";
    case Text::kHttpUrl:
      if (!value.starts_with("http://") || value.size() <= 7)
        return "expected an http:// URL like \"http://169.254.169.254\"";
      return "";
    case Text::kName: {
      const bool ok = !value.empty() && value.size() <= 32 &&
                      std::all_of(value.begin(), value.end(), [](char ch) {
                        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                               ch == '_' || ch == '-';
                      }) &&
                      !(value.front() >= '0' && value.front() <= '9');
      return ok ? "" : "expected a group name (lower-case letters, digits, '_' or '-')";
    }
  }
  return "";
}

// The visitor that fills a Config from a parsed TOML document (see config_schema.h).
class Reader {
 public:
  Reader(const toml::table& root, std::string file, std::vector<ConfigError>& errors)
      : root_(root), file_(std::move(file)), errors_(errors) {}

  void section(std::string_view name) {
    finish_section();
    section_ = name;
    sections_.insert(std::string(name));
    table_ = nullptr;
    if (const toml::node* node = root_.get(name)) {
      positions_[std::string(name)] = position_of(node->source());
      table_ = node->as_table();
      if (!table_) error(node->source(), std::string(name), fmt::format("expected a table [{}], got {}", name, type_name(node->type())));
    }
  }

  template <typename E>
  void choice(std::string_view key, E& field, NameTable<E> names) {
    const toml::node* node = lookup(key);
    if (!node) return;
    const auto* text = node->as_string();
    if (!text) return wrong_type(*node, key, "one of " + list_names(names));
    for (const auto& [name, value] : names) {
      if (name == text->get()) {
        field = value;
        return;
      }
    }
    error(*node, key, fmt::format("expected one of {}, got \"{}\"", list_names(names), text->get()));
  }

  void text(std::string_view key, std::string& field, Text rule) {
    const toml::node* node = lookup(key);
    if (!node) return;
    const auto* text = node->as_string();
    if (!text) return wrong_type(*node, key, "a string");
    if (auto problem = check_text(text->get(), rule); !problem.empty())
      return error(*node, key, fmt::format("{}, got \"{}\"", problem, text->get()));
    field = text->get();
  }

  void text_list(std::string_view key, std::vector<std::string>& field) {
    const toml::node* node = lookup(key);
    if (!node) return;
    const auto* array = node->as_array();
    if (!array) return wrong_type(*node, key, "an array of strings");
    std::vector<std::string> values;
    for (const auto& element : *array) {
      const auto* text = element.as_string();
      if (!text) return wrong_type(element, key, "an array of strings, each element");
      values.push_back(text->get());
    }
    field = std::move(values);
  }

  void boolean(std::string_view key, bool& field) {
    const toml::node* node = lookup(key);
    if (!node) return;
    const auto* value = node->as_boolean();
    if (!value) return wrong_type(*node, key, "true or false");
    field = value->get();
  }

  void probability(std::string_view key, double& field) {
    const toml::node* node = lookup(key);
    if (!node) return;
    std::optional<double> v;
    if (const auto* f = node->as_floating_point()) v = f->get();
    else if (const auto* i = node->as_integer()) v = static_cast<double>(i->get());
    if (!v) return wrong_type(*node, key, "a probability between 0.0 and 1.0");
    if (!(*v >= 0.0 && *v <= 1.0)) return error(*node, key, fmt::format("{} is out of range: must be between 0.0 and 1.0", *v));
    field = *v;
  }

  template <typename T>
  void integer(std::string_view key, T& field, T min, T max) {
    const toml::node* node = lookup(key);
    if (!node) return;
    if (auto value = read_integer(*node, key, min, max)) field = *value;
  }

  // "auto" (nullopt) or an integer in [min, max].
  template <typename T>
  void integer_or_auto(std::string_view key, std::optional<T>& field, T min, T max) {
    const toml::node* node = lookup(key);
    if (!node) return;
    if (const auto* text = node->as_string()) {
      if (text->get() == "auto") field.reset();
      else error(*node, key, fmt::format("expected \"auto\" or an integer between {} and {}, got \"{}\"", min, max, text->get()));
      return;
    }
    if (!node->as_integer())
      return wrong_type(*node, key, fmt::format("\"auto\" or an integer between {} and {}", min, max));
    if (auto value = read_integer(*node, key, min, max)) field = *value;
  }

  template <typename T>
  void integer_list(std::string_view key, std::vector<T>& field, T min, T max, size_t max_count) {
    const toml::node* node = lookup(key);
    if (!node) return;
    const auto* array = node->as_array();
    if (!array) return wrong_type(*node, key, fmt::format("an array of integers between {} and {}", min, max));
    if (array->size() > max_count)
      return error(*node, key, fmt::format("at most {} elements allowed, got {}", max_count, array->size()));
    std::vector<T> values;
    for (const auto& element : *array) {
      auto value = read_integer(element, key, min, max);
      if (!value) return;
      values.push_back(*value);
    }
    field = std::move(values);
  }

  template <typename T>
  void address(std::string_view key, std::optional<T>& field, const OptionalAddress<T>& spec) {
    const toml::node* node = lookup(key);
    if (!node) return;
    const auto* text = node->as_string();
    if (!text) return wrong_type(*node, key, std::string(spec.expected));
    if (text->get() == spec.unset_text) {
      field.reset();
      return;
    }
    auto parsed = T::parse(text->get());
    if (!parsed) return error(*node, key, fmt::format("expected {}, got \"{}\"", spec.expected, text->get()));
    field = *parsed;
  }

  // Reports unknown keys and sections; call once after the schema has been walked.
  void finish() {
    finish_section();
    std::vector<std::string_view> known(sections_.begin(), sections_.end());
    for (const auto& [key, node] : root_) {
      const std::string name(key.str());
      if (sections_.count(name)) continue;
      error(key.source(), name, fmt::format("unknown section [{}]{}", name, did_you_mean(name, known)));
    }
  }

  // Where each "section" and "section.key" was written, for errors found after reading.
  std::optional<Position> position(const std::string& key) const {
    auto it = positions_.find(key);
    if (it == positions_.end()) return std::nullopt;
    return it->second;
  }

  // True when reading `key` (or its whole section) produced an error.
  bool failed(const std::string& key) const {
    for (const auto& e : errors_)
      if (e.key == key || e.key == key.substr(0, key.find('.'))) return true;
    return false;
  }

  void error_at(const std::string& key, std::string message) {
    Position where;
    if (auto p = position(key)) {
      where = *p;
    } else if (auto s = position(key.substr(0, key.find('.')))) {
      where = *s;
    }
    errors_.push_back({file_, where.line, where.column, key, std::move(message)});
  }

 private:
  const toml::node* lookup(std::string_view key) {
    known_keys_.push_back(key);
    if (!table_) return nullptr;
    const toml::node* node = table_->get(key);
    if (node) positions_[full_key(key)] = position_of(node->source());
    return node;
  }

  template <typename T>
  std::optional<T> read_integer(const toml::node& node, std::string_view key, T min, T max) {
    const auto* value = node.as_integer();
    if (!value) {
      wrong_type(node, key, fmt::format("an integer between {} and {}", min, max));
      return std::nullopt;
    }
    const int64_t v = value->get();
    if (v < static_cast<int64_t>(min) || v > static_cast<int64_t>(max)) {
      error(node, key, fmt::format("{} is out of range: must be between {} and {}", v, min, max));
      return std::nullopt;
    }
    return static_cast<T>(v);
  }

  void finish_section() {
    if (table_) {
      for (const auto& [key, node] : *table_) {
        const std::string name(key.str());
        if (std::find(known_keys_.begin(), known_keys_.end(), name) != known_keys_.end()) continue;
        error(key.source(), full_key(name),
              fmt::format("unknown key \"{}\" in [{}]{}", name, section_, replaced_or_close(section_, name, known_keys_)));
      }
    }
    known_keys_.clear();
    table_ = nullptr;
  }

  std::string full_key(std::string_view key) const { return fmt::format("{}.{}", section_, key); }

  void wrong_type(const toml::node& node, std::string_view key, const std::string& expected) {
    error(node, key, fmt::format("expected {}, got {}", expected, type_name(node.type())));
  }

  void error(const toml::node& node, std::string_view key, std::string message) {
    error(node.source(), full_key(key), std::move(message));
  }

  void error(const toml::source_region& where, std::string key, std::string message) {
    const Position p = position_of(where);
    errors_.push_back({file_, p.line, p.column, std::move(key), std::move(message)});
  }

  const toml::table& root_;
  std::string file_;
  std::vector<ConfigError>& errors_;
  std::string_view section_;
  const toml::table* table_ = nullptr;
  std::vector<std::string_view> known_keys_;
  std::set<std::string> sections_;
  std::map<std::string, Position> positions_;
};

bool is_power_of_two(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Rules that involve more than one key. A rule is checked only when every key it involves
// was read without error, so one mistake is not reported twice.
void check_relations(const Config& c, Reader& r) {
  auto rule = [&r](std::initializer_list<const char*> keys, bool violated, const char* report_at,
                   std::string message) {
    for (const char* key : keys)
      if (r.failed(key)) return;
    if (violated) r.error_at(report_at, std::move(message));
  };
  const auto& nic = c.nic;
  rule({"nic.mode", "nic.pci"}, nic.mode == NicMode::kPci && !nic.pci, "nic.mode",
       "mode = \"pci\" needs the NIC's address in [nic] pci");
  rule({"nic.mode", "nic.vdev"}, nic.mode == NicMode::kVdev && nic.vdev.empty(), "nic.mode",
       "mode = \"vdev\" needs a DPDK vdev string in [nic] vdev");
  rule({"nic.mode", "nic.vdev"}, nic.mode == NicMode::kPci && !nic.vdev.empty(), "nic.vdev",
       "vdev conflicts with mode = \"pci\"; remove one of them");
  rule({"nic.mode", "nic.pci"}, nic.mode == NicMode::kVdev && nic.pci.has_value(), "nic.pci",
       "pci conflicts with mode = \"vdev\"; remove one of them");
  rule({"daemon.app_socket", "daemon.admin_socket"}, c.daemon.app_socket == c.daemon.admin_socket,
       "daemon.admin_socket", "admin_socket must differ from app_socket");
  rule({"channels.ring_slots"}, !is_power_of_two(c.channels.ring_slots), "channels.ring_slots",
       fmt::format("must be a power of two, got {}", c.channels.ring_slots));
  rule({"channels.buffer_size"}, c.channels.buffer_size % 64 != 0, "channels.buffer_size",
       fmt::format("must be a multiple of 64, got {}", c.channels.buffer_size));
  const auto& t = c.transport;
  rule({"transport.min_window", "transport.max_window"}, t.min_window > t.max_window, "transport.min_window",
       fmt::format("min_window ({}) is larger than max_window ({})", t.min_window, t.max_window));
  rule({"transport.min_window", "transport.max_window", "transport.initial_window"},
       t.min_window <= t.max_window && (t.initial_window < t.min_window || t.initial_window > t.max_window),
       "transport.initial_window",
       fmt::format("initial_window ({}) must lie between min_window ({}) and max_window ({})",
                   t.initial_window, t.min_window, t.max_window));
  rule({"transport.rto_min_us", "transport.rto_max_us"}, t.rto_min_us > t.rto_max_us, "transport.rto_min_us",
       fmt::format("rto_min_us ({}) is larger than rto_max_us ({})", t.rto_min_us, t.rto_max_us));
  std::vector<uint32_t> cores = c.engine.cores;
  std::sort(cores.begin(), cores.end());
  rule({"engine.cores"}, std::adjacent_find(cores.begin(), cores.end()) != cores.end(), "engine.cores",
       "a core is listed twice");
}

// [testing] keys other than `enabled` are refused unless `enabled = true`.
void check_testing(const Config& c, Reader& r) {
  if (c.testing.enabled) return;
  const TestingConfig defaults;
  if (c.testing.sysfs_root != defaults.sysfs_root)
    r.error_at("testing.sysfs_root", "test-only key: set [testing] enabled = true to use it");
  if (c.testing.proc_root != defaults.proc_root)
    r.error_at("testing.proc_root", "test-only key: set [testing] enabled = true to use it");
  const std::pair<const char*, bool> faults[] = {
      {"testing.fault_seed", c.testing.fault_seed != defaults.fault_seed},
      {"testing.rx_drop", c.testing.rx_drop != 0},
      {"testing.tx_drop", c.testing.tx_drop != 0},
      {"testing.tx_duplicate", c.testing.tx_duplicate != 0},
      {"testing.tx_reorder", c.testing.tx_reorder != 0},
      {"testing.tx_delay_us", c.testing.tx_delay_us != 0},
  };
  for (const auto& [key, set] : faults)
    if (set) r.error_at(key, "test-only key: set [testing] enabled = true to use it");
}

}  // namespace

std::string ConfigError::to_string() const {
  std::string where = file;
  if (line > 0) where += fmt::format(":{}:{}", line, column);
  if (key.empty()) return fmt::format("{}: {}", where, message);
  return fmt::format("{}: {}: {}", where, key, message);
}

ConfigLoadResult load_config_string(std::string_view toml_text, std::string_view source_name) {
  ConfigLoadResult result;
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    result.errors.push_back({std::string(source_name), begin.line, begin.column, "",
                             fmt::format("syntax error: {}", e.description())});
    return result;
  }
  Config config;
  Reader reader(root, std::string(source_name), result.errors);
  config_schema::visit(reader, config);
  reader.finish();
  check_relations(config, reader);
  check_testing(config, reader);
  std::stable_sort(result.errors.begin(), result.errors.end(), [](const auto& a, const auto& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

ConfigLoadResult load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    ConfigLoadResult result;
    result.errors.push_back({path, 0, 0, "", fmt::format("cannot read the file: {}", std::strerror(err))});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_config_string(text.str(), path);
}

}  // namespace machnet
