#include "control/admin_protocol.h"

#include <algorithm>

#include <fmt/format.h>

namespace machnet::control {
namespace {

// Invalid UTF-8 (a process name, a path) is replaced rather than thrown about.
std::string to_line(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

void AdminCommands::add(std::string name, Access access, std::string summary, Handler handler) {
  commands_[std::move(name)] = Command{access, std::move(summary), std::move(handler)};
}

std::string AdminCommands::error_response(std::string_view message) {
  return to_line(nlohmann::json{{"ok", false}, {"error", message}});
}

bool AdminCommands::allowed(Access access, const PeerCredentials& peer) const {
  if (peer.uid == 0 || peer.uid == daemon_uid_) return true;
  if (access == Access::kAdmin || !read_group_) return false;
  return peer.gid == *read_group_ ||
         std::find(peer.groups.begin(), peer.groups.end(), *read_group_) != peer.groups.end();
}

std::string AdminCommands::handle(std::string_view request_line, const PeerCredentials& peer) const {
  if (request_line.size() > kMaxAdminRequestBytes)
    return error_response(fmt::format("request too large (limit {} bytes)", kMaxAdminRequestBytes));
  // The parser is told not to throw: a malformed request is an answer, not an exception.
  const nlohmann::json request = nlohmann::json::parse(request_line, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded()) return error_response("malformed request: not valid JSON");
  if (!request.is_object()) return error_response("malformed request: expected a JSON object");
  const auto cmd = request.find("cmd");
  if (cmd == request.end() || !cmd->is_string())
    return error_response("malformed request: missing string field \"cmd\"");
  const auto& name = cmd->get_ref<const std::string&>();
  const auto it = commands_.find(name);
  if (it == commands_.end()) {
    std::string known;
    for (const auto& [n, c] : commands_) known += (known.empty() ? "" : ", ") + n;
    return error_response(fmt::format("unknown command \"{}\" (known: {})", name, known));
  }
  if (!allowed(it->second.access, peer)) {
    return error_response(fmt::format(
        "permission denied: \"{}\" needs {}", name,
        it->second.access == Access::kAdmin ? "root" : "root or membership of the daemon's group"));
  }
  try {
    nlohmann::json data = it->second.handler(request);
    return to_line(nlohmann::json{{"ok", true}, {"cmd", name}, {"data", std::move(data)}});
  } catch (const CommandError& e) {
    return error_response(e.what());
  } catch (const std::exception& e) {
    return error_response(fmt::format("internal error while running \"{}\": {}", name, e.what()));
  }
}

}  // namespace machnet::control
