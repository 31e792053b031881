#include "shm/doorbell.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace machnet::shm {

namespace {

// One ring pending is all either side ever needs; a small send buffer bounds the kernel
// memory a side that never reads can make the other queue (the kernel rounds it up to its
// minimum, a few KiB).
constexpr int kSendBuffer = 4096;

}  // namespace

Result<Doorbell> Doorbell::create(uint32_t channel_id) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
    return make_error(fmt::format("channel {}: doorbell socketpair: {}", channel_id, std::strerror(errno)));
  Doorbell d;
  d.daemon_fd_ = fds[0];
  d.app_fd_ = fds[1];
  for (int fd : fds) {
    // Best effort: the default buffer works too, it only lets more rings queue up.
    [[maybe_unused]] int r = ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kSendBuffer, sizeof(kSendBuffer));
  }
  return d;
}

Doorbell& Doorbell::operator=(Doorbell&& o) noexcept {
  if (this != &o) {
    reset();
    daemon_fd_ = std::exchange(o.daemon_fd_, -1);
    app_fd_ = std::exchange(o.app_fd_, -1);
  }
  return *this;
}

Doorbell::~Doorbell() { reset(); }

void Doorbell::reset() {
  if (daemon_fd_ >= 0) ::close(daemon_fd_);
  daemon_fd_ = -1;
  close_app_end();
}

void Doorbell::close_app_end() {
  if (app_fd_ >= 0) ::close(app_fd_);
  app_fd_ = -1;
}

}  // namespace machnet::shm
