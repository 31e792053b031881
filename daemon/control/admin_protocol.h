// The admin protocol of the machnetctl socket: newline-delimited JSON, one request object
// per line ({"cmd":"status"}), one response object per line ({"ok":true,"data":{...}} or
// {"ok":false,"error":"..."}). docs/control-protocol.md is the reference.
// This file is the pure part: request parsing, access checks and dispatch, with no I/O, so it
// is unit-tested directly; admin_server.h moves the bytes.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace machnet::control {

inline constexpr size_t kMaxAdminRequestBytes = 64 * 1024;
inline constexpr int kAdminProtocolVersion = 1;

// Who is on the other end of the socket (SO_PEERCRED, SO_PEERGROUPS).
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

// kRead: root, the daemon's own user and members of the daemon's group.
// kAdmin (changes state): root and the daemon's own user only.
enum class Access { kRead, kAdmin };

// Thrown by a command handler to answer with an error instead of data.
class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class AdminCommands {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  // A command whose answer comes later (it waits on something the control thread must not
  // wait on): the handler returns at once and calls `reply` once, on the control thread,
  // with the data or with an error message (non-empty `error`).
  using Reply = std::function<void(nlohmann::json data, std::string error)>;
  using AsyncHandler = std::function<void(const nlohmann::json& request, Reply reply)>;

  AdminCommands(uid_t daemon_uid, std::optional<gid_t> read_group)
      : daemon_uid_(daemon_uid), read_group_(read_group) {}

  // Registers a command; call before the control thread starts.
  void add(std::string name, Access access, std::string summary, Handler handler);
  void add_async(std::string name, Access access, std::string summary, AsyncHandler handler);

  // Answers one request line (without its newline); the answer has no newline either.
  // Never throws: every failure becomes {"ok":false,"error":...}.
  std::string handle(std::string_view request_line, const PeerCredentials& peer) const;
  // As handle(), for every command: `done` gets the answer line, at once for a plain
  // command, later (from the handler's reply) for an asynchronous one.
  void handle_async(std::string_view request_line, const PeerCredentials& peer,
                    std::function<void(std::string answer)> done) const;

  static std::string error_response(std::string_view message);

 private:
  struct Command {
    Access access;
    std::string summary;
    Handler handler;             // one of the two is set
    AsyncHandler async_handler;
  };
  bool allowed(Access access, const PeerCredentials& peer) const;
  // The command a request names, or the error line that answers it.
  const Command* find(const nlohmann::json& request, const PeerCredentials& peer, std::string& error) const;

  uid_t daemon_uid_;
  std::optional<gid_t> read_group_;
  std::map<std::string, Command, std::less<>> commands_;
};

}  // namespace machnet::control
