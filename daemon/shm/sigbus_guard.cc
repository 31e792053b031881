#include "shm/sigbus_guard.h"

#include <signal.h>
#include <sys/mman.h>

#include <array>
#include <atomic>
#include <mutex>

namespace machnet::shm {
namespace {

struct Slot {
  std::atomic<uintptr_t> base{0};  // 0: free; written last on add, first on remove
  std::atomic<size_t> size{0};
  std::atomic<size_t> page{0};
  std::atomic<uint64_t> faults{0};
};
static_assert(std::atomic<uintptr_t>::is_always_lock_free && std::atomic<uint64_t>::is_always_lock_free);

constexpr int kSlots = 4096;
std::array<Slot, kSlots> g_slots;
std::mutex g_add_mutex;  // adders only (control thread, tests); the handler takes no lock
struct sigaction g_previous {};

// Async-signal-safe: atomics and mmap only.
void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& s : g_slots) {
    const uintptr_t base = s.base.load(std::memory_order_acquire);
    if (base == 0 || addr < base || addr - base >= s.size.load(std::memory_order_relaxed)) continue;
    const size_t page = s.page.load(std::memory_order_relaxed);
    const uintptr_t start = base + (addr - base) / page * page;
    void* p = ::mmap(reinterpret_cast<void*>(start), page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
      s.faults.fetch_add(1, std::memory_order_relaxed);
      return;  // the faulting access is retried on the zero page
    }
    break;  // cannot repair: die as we would have
  }
  // Not ours (or not repairable): what would have happened without us.
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction) return g_previous.sa_sigaction(sig, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    return g_previous.sa_handler(sig);
  }
  // Default action: restore it; returning retries the access, which now kills with a core.
  ::signal(SIGBUS, SIG_DFL);
}

}  // namespace

void install_sigbus_guard() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_previous);
  });
}

int sigbus_guard_add(const uint8_t* base, size_t size, size_t page_size) {
  std::lock_guard lock(g_add_mutex);
  for (int i = 0; i < kSlots; ++i) {
    Slot& s = g_slots[i];
    if (s.base.load(std::memory_order_relaxed) != 0) continue;
    s.size.store(size, std::memory_order_relaxed);
    s.page.store(page_size, std::memory_order_relaxed);
    s.faults.store(0, std::memory_order_relaxed);
    s.base.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
    return i;
  }
  return -1;
}

void sigbus_guard_remove(int slot) {
  if (slot < 0 || slot >= kSlots) return;
  g_slots[slot].base.store(0, std::memory_order_release);
}

uint64_t sigbus_guard_faults(int slot) {
  if (slot < 0 || slot >= kSlots) return 0;
  return g_slots[slot].faults.load(std::memory_order_relaxed);
}

}  // namespace machnet::shm
