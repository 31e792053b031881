// Ports per user (issue 15, row 9): the listen ports and the ephemeral ports each user's
// channels hold, over every engine of the daemon, against [limits]
// max_listen_ports_per_user and max_ephemeral_ports_per_user. One user taking every port
// would otherwise make every other user's listen fail (EADDRINUSE) and connect fail (no
// free ephemeral port). Root is never capped: it can stop the daemon anyway.
// An engine charges a port when it takes it for a user's listen or connect and releases
// the charge when the port is given back. The mutex is taken on listen, connect and flow
// end only, never per packet.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace machnet::engine {

class UserPorts {
 public:
  enum Kind : uint8_t { kListen = 0, kEphemeral = 1 };

  // Before the engines start; 0: no cap of that kind.
  void configure(uint32_t max_listen, uint32_t max_ephemeral) {
    caps_ = {max_listen, max_ephemeral};
  }

  // False past the cap (counted): the caller refuses the listen or connect.
  bool try_charge(uid_t uid, Kind kind) {
    if (uid == 0) return true;
    std::lock_guard lock(mutex_);
    uint32_t& n = held_[uid][kind];
    if (caps_[kind] != 0 && n >= caps_[kind]) {
      refused_[kind].fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    ++n;
    return true;
  }

  void release(uid_t uid, Kind kind) {
    if (uid == 0) return;
    std::lock_guard lock(mutex_);
    auto it = held_.find(uid);
    if (it == held_.end() || it->second[kind] == 0) return;
    if (--it->second[kind] == 0 && it->second[1 - kind] == 0) held_.erase(it);
  }

  uint32_t cap(Kind kind) const { return caps_[kind]; }
  uint64_t refused(Kind kind) const { return refused_[kind].load(std::memory_order_relaxed); }
  uint32_t held(uid_t uid, Kind kind) {
    std::lock_guard lock(mutex_);
    auto it = held_.find(uid);
    return it == held_.end() ? 0 : it->second[kind];
  }

 private:
  std::array<uint32_t, 2> caps_{};
  std::mutex mutex_;
  std::unordered_map<uid_t, std::array<uint32_t, 2>> held_;
  std::array<std::atomic<uint64_t>, 2> refused_{};
};

}  // namespace machnet::engine
