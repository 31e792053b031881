// The channel's pollable descriptor (machnet_channel_fd): the doorbell eventfd, armed by the
// receive path so that it behaves like a non-blocking socket.
//
// Protocol with the daemon (unchanged, docs/channel-abi.md "Doorbell"): we set app_waiting = 1,
// fence, re-check to_app; after delivering, the daemon fences and, if app_waiting is 1, swaps it
// to 0 and writes the eventfd once. So every 1 -> 0 swap is followed by exactly one write.
//
// Costs. While app_waiting stays 1 the daemon has not rung and an empty receive costs one
// relaxed load, no syscall. Only after a swap (a delivery since we armed) do we read the
// descriptor and re-arm. The swap and the write are two steps in the daemon: if we see the
// swap, drain, re-arm and only then the write lands, the descriptor is readable with the flag
// at 1. `owed` counts swaps whose write we have not read yet, so that case still drains on the
// next empty receive instead of leaving a level-triggered poller spinning on a stale wake-up.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "lib_internal.h"

namespace machnet::lib {
namespace {

// Reads until EAGAIN. An 8-byte eventfd read returns the sum of the writes (one per ring); a
// datagram doorbell (a possible future daemon) returns one ring per read, which is why the
// buffer is larger than 8 and why we loop rather than trust one read to empty it.
void drain_st(Channel* c) {
  for (int i = 0; i < 64; ++i) {  // bounded: an eventfd empties in one read
    uint64_t buf[2];
    const ssize_t r = ::read(c->event_fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;  // EAGAIN: drained (any other error: nothing we can do better)
    const uint64_t rings = r == sizeof(uint64_t) ? buf[0] : 1;
    c->owed = rings >= c->owed ? 0 : c->owed - rings;
  }
}

bool arm_st(Channel* c) {
  std::atomic_ref<uint32_t> waiting(c->view.header()->app_waiting);
  waiting.store(1, std::memory_order_seq_cst);
  c->armed = true;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return c->to_app.available(1) > 0;
}

}  // namespace

bool doorbell_on_empty_st(Channel* c) {
  std::atomic_ref<uint32_t> waiting(c->view.header()->app_waiting);
  if (waiting.load(std::memory_order_relaxed) != 0) {
    // Still armed: the daemon has not rung since. The fast path of a busy poller.
    if (c->owed != 0) [[unlikely]] {
      const int saved = errno;
      drain_st(c);
      errno = saved;
    }
    return false;
  }
  if (c->armed) {  // the daemon swapped our 1 to 0: one write is on its way or has landed
    c->armed = false;
    ++c->owed;
  }
  const int saved = errno;  // receive returning 0 must not leave a stray EAGAIN behind
  drain_st(c);
  errno = saved;
  return arm_st(c);
}

void doorbell_enable_st(Channel* c) {
  if (c->fd_mode) return;
  c->fd_mode = true;
  // Whatever machnet_recv_timeout left in the eventfd is stale now.
  const int saved = errno;
  drain_st(c);
  errno = saved;
  c->owed = 0;
  arm_st(c);
}

}  // namespace machnet::lib
