// The channel's pollable descriptor (machnet_channel_fd): our end of the doorbell socketpair
// (channel/doorbell_socket.h), armed by the receive path so that it behaves like a
// non-blocking socket.
//
// Protocol with the daemon (docs/channel-abi.md "Doorbell"): we set app_waiting = 1,
// fence, re-check to_app; after delivering, the daemon fences and, if app_waiting is 1, swaps it
// to 0 and sends one byte. So every 1 -> 0 swap is followed by exactly one write.
//
// Costs. While app_waiting stays 1 the daemon has not rung and an empty receive costs one
// relaxed load, no syscall. Only after a swap (a delivery since we armed) do we read the
// descriptor and re-arm. The swap and the write are two steps in the daemon: if we see the
// swap, drain, re-arm and only then the write lands, the descriptor is readable with the flag
// at 1. `owed` counts swaps whose write we have not read yet, so that case still drains on the
// next empty receive instead of leaving a level-triggered poller spinning on a stale wake-up.
#include <atomic>
#include <cerrno>

#include "channel/doorbell_socket.h"
#include "lib_internal.h"

namespace machnet::lib {
namespace {

// Reads what the daemon rang (one byte per ring) and settles what it owes us.
void drain_st(Channel* c) {
  const uint64_t rings = channel::doorbell_drain(c->doorbell_fd).rings;
  c->owed = rings >= c->owed ? 0 : c->owed - rings;
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
  // Whatever machnet_recv_timeout left in the doorbell is stale now.
  const int saved = errno;
  drain_st(c);
  errno = saved;
  c->owed = 0;
  arm_st(c);
}

}  // namespace machnet::lib
