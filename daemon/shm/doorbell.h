// The daemon's side of a channel's doorbell (lib/channel/doorbell_socket.h): creates the
// socketpair, keeps its own end for the engine and hands the other to the application once,
// in the ATTACH answer, then closes its copy so that the application's end is the
// application's alone. Owned by the control thread (control/app_sessions.h), like the
// channel's memory.
#pragma once

#include <cstdint>
#include <utility>

#include "util/result.h"

namespace machnet::shm {

class Doorbell {
 public:
  static Result<Doorbell> create(uint32_t channel_id);

  Doorbell() = default;
  Doorbell(Doorbell&& o) noexcept { *this = std::move(o); }
  Doorbell& operator=(Doorbell&& o) noexcept;
  Doorbell(const Doorbell&) = delete;
  Doorbell& operator=(const Doorbell&) = delete;
  ~Doorbell();

  int daemon_fd() const { return daemon_fd_; }
  int app_fd() const { return app_fd_; }
  // After the ATTACH answer carried app_fd(): the daemon keeps no handle on it.
  void close_app_end();

 private:
  void reset();

  int daemon_fd_ = -1;
  int app_fd_ = -1;
};

}  // namespace machnet::shm
