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
  commands_[std::move(name)] = Command{access, std::move(summary), std::move(handler), nullptr};
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

void AdminCommands::add_async(std::string name, Access access, std::string summary, AsyncHandler handler) {
  commands_[std::move(name)] = Command{access, std::move(summary), nullptr, std::move(handler)};
}

namespace {

nlohmann::json parse_request(std::string_view request_line, std::string& error) {
  if (request_line.size() > kMaxAdminRequestBytes) {
    error = AdminCommands::error_response(fmt::format("request too large (limit {} bytes)", kMaxAdminRequestBytes));
    return {};
  }
  // The parser is told not to throw: a malformed request is an answer, not an exception.
  nlohmann::json request = nlohmann::json::parse(request_line, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded()) error = AdminCommands::error_response("malformed request: not valid JSON");
  else if (!request.is_object()) error = AdminCommands::error_response("malformed request: expected a JSON object");
  else if (auto cmd = request.find("cmd"); cmd == request.end() || !cmd->is_string())
    error = AdminCommands::error_response("malformed request: missing string field \"cmd\"");
  return request;
}

std::string success(const std::string& name, nlohmann::json data) {
  return to_line(nlohmann::json{{"ok", true}, {"cmd", name}, {"data", std::move(data)}});
}

}  // namespace

const AdminCommands::Command* AdminCommands::find(const nlohmann::json& request, const PeerCredentials& peer,
                                                  std::string& error) const {
  const auto& name = request["cmd"].get_ref<const std::string&>();
  const auto it = commands_.find(name);
  if (it == commands_.end()) {
    std::string known;
    for (const auto& [n, c] : commands_) known += (known.empty() ? "" : ", ") + n;
    error = error_response(fmt::format("unknown command \"{}\" (known: {})", name, known));
    return nullptr;
  }
  if (!allowed(it->second.access, peer)) {
    error = error_response(fmt::format(
        "permission denied: \"{}\" needs {}", name,
        it->second.access == Access::kAdmin ? "root" : "root or membership of the daemon's group"));
    return nullptr;
  }
  return &it->second;
}

std::string AdminCommands::handle(std::string_view request_line, const PeerCredentials& peer) const {
  std::string answer;
  handle_async(request_line, peer, [&answer](std::string a) { answer = std::move(a); });
  return answer;  // empty only for an asynchronous command that has not answered yet
}

void AdminCommands::handle_async(std::string_view request_line, const PeerCredentials& peer,
                                 std::function<void(std::string answer)> done) const {
  std::string error;
  const nlohmann::json request = parse_request(request_line, error);
  if (!error.empty()) return done(std::move(error));
  const Command* command = find(request, peer, error);
  if (command == nullptr) return done(std::move(error));
  const std::string name = request["cmd"].get<std::string>();
  try {
    if (command->async_handler) {
      command->async_handler(request, [name, done](nlohmann::json data, std::string why) {
        done(why.empty() ? success(name, std::move(data)) : error_response(why));
      });
      return;
    }
    done(success(name, command->handler(request)));
  } catch (const CommandError& e) {
    done(error_response(e.what()));
  } catch (const std::exception& e) {
    done(error_response(fmt::format("internal error while running \"{}\": {}", name, e.what())));
  }
}

}  // namespace machnet::control
