// machnetctl's side of the admin protocol (docs/control-protocol.md): one request, one
// response over the daemon's Unix socket.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace machnetctl {

enum class ClientStatus { kOk, kNotRunning, kFailed };

struct ClientResult {
  ClientStatus status = ClientStatus::kFailed;
  nlohmann::json response;  // the daemon's answer when status == kOk
  std::string error;        // one line for the user otherwise
};

// Sends `request` to the socket at `path` and waits (bounded) for the answer.
ClientResult request(const std::string& path, const nlohmann::json& request);

}  // namespace machnetctl
