#include "config/config_writer.h"

#include <sstream>

#include <toml++/toml.h>

#include "config/config_schema.h"

namespace machnet {
namespace {

using config_schema::NameTable;
using config_schema::OptionalAddress;
using config_schema::Text;

// The visitor that writes a Config into a TOML table (see config_schema.h).
class TomlWriter {
 public:
  void section(std::string_view name) {
    section_ = root_.insert_or_assign(name, toml::table{}).first->second.as_table();
    section_name_ = name;
  }

  template <typename E>
  void choice(std::string_view key, const E& field, NameTable<E> names) {
    for (const auto& [name, value] : names) {
      if (value == field) put(key, std::string(name));
    }
  }
  void text(std::string_view key, const std::string& field, Text) { put(key, field); }
  void text_list(std::string_view key, const std::vector<std::string>& field) {
    toml::array array;
    for (const auto& v : field) array.push_back(v);
    put(key, std::move(array));
  }
  void boolean(std::string_view key, bool field) { put(key, field); }
  void probability(std::string_view key, double field) { put(key, field); }
  template <typename T>
  void integer(std::string_view key, const T& field, T, T) {
    put(key, static_cast<int64_t>(field));
  }
  template <typename T>
  void integer_or_auto(std::string_view key, const std::optional<T>& field, T, T) {
    if (field) put(key, static_cast<int64_t>(*field));
    else put(key, std::string("auto"));
  }
  template <typename T>
  void integer_list(std::string_view key, const std::vector<T>& field, T, T, size_t) {
    toml::array array;
    for (auto v : field) array.push_back(static_cast<int64_t>(v));
    put(key, std::move(array));
  }
  template <typename T>
  void address(std::string_view key, const std::optional<T>& field, const OptionalAddress<T>& spec) {
    put(key, field ? field->to_string() : std::string(spec.unset_text));
  }

  toml::table& root() { return root_; }
  const std::vector<std::string>& keys() const { return keys_; }

 private:
  template <typename V>
  void put(std::string_view key, V&& value) {
    section_->insert_or_assign(key, std::forward<V>(value));
    keys_.push_back(std::string(section_name_) + "." + std::string(key));
  }

  toml::table root_;
  toml::table* section_ = nullptr;
  std::string_view section_name_;  // schema names are string literals
  std::vector<std::string> keys_;  // "section.key", in schema order
};

toml::table to_table(const Config& config) {
  TomlWriter writer;
  config_schema::visit(writer, config);
  return std::move(writer.root());
}

std::string format_node(const toml::node& node) {
  std::ostringstream out;
  node.visit([&out](const auto& value) { out << value; });
  return out.str();
}

}  // namespace

nlohmann::json config_to_json(const Config& config) {
  std::ostringstream out;
  out << toml::json_formatter{to_table(config)};
  return nlohmann::json::parse(out.str());
}

std::string config_to_toml(const Config& config) {
  std::ostringstream out;
  out << toml::toml_formatter{to_table(config)};
  return out.str();
}

std::vector<std::string> changed_keys(const Config& before, const Config& after) {
  const toml::table a = to_table(before);
  const toml::table b = to_table(after);
  std::vector<std::string> changed;
  for (const auto& key : all_config_keys()) {
    const auto* na = a.at_path(key).node();
    const auto* nb = b.at_path(key).node();
    if (format_node(*na) != format_node(*nb)) changed.push_back(key);
  }
  return changed;
}

std::vector<std::string> all_config_keys() {
  TomlWriter writer;
  const Config defaults;
  config_schema::visit(writer, defaults);
  return writer.keys();
}

}  // namespace machnet
