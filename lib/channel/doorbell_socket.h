// A channel's doorbell: the two ends of one AF_UNIX stream socketpair per channel, one held
// by the daemon's engine, one by the application. Each side rings the other by sending one
// byte and drains its own end by reading; docs/channel-abi.md "Doorbell" has the protocol.
//
// Why a socketpair and not eventfds: the two ends are separate open file descriptions, so
// nothing an application does to its descriptor (clearing O_NONBLOCK, filling it, reading it
// from another thread) reaches the daemon's end, and each channel has its own pair, so no
// application can read or stall another's wake-ups. Both sides send with MSG_DONTWAIT and
// MSG_NOSIGNAL and receive with MSG_DONTWAIT, whatever flags the descriptor carries: a full
// socket means a ring is already pending, a closed one that nobody listens any more.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>

namespace machnet::channel {

inline void doorbell_ring(int fd) {
  const char ring = 1;
  [[maybe_unused]] ssize_t r = ::send(fd, &ring, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

struct DoorbellDrain {
  uint64_t rings = 0;   // bytes read: one per ring
  bool closed = false;  // the other end is gone (EOF or a socket error)
};

// Reads what is pending, in a bounded number of reads so that a flood on the other end
// cannot keep the caller here; whatever is left keeps the descriptor readable.
inline DoorbellDrain doorbell_drain(int fd) {
  DoorbellDrain d;
  char buf[256];
  for (int i = 0; i < 8; ++i) {
    const ssize_t r = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r > 0) {
      d.rings += static_cast<uint64_t>(r);
      if (static_cast<size_t>(r) < sizeof(buf)) break;  // emptied
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) d.closed = true;
    break;
  }
  return d;
}

}  // namespace machnet::channel
