// Channel memory that cannot fault the daemon (issue 15, row 8).
//
// A channel's memfd is shared with its application, and the seals (F_SEAL_SHRINK/GROW) do
// not stop fallocate(FALLOC_FL_PUNCH_HOLE): only a write seal would, and the application
// needs a writable mapping. A hole in normal (shmem) pages refills with zeros on the next
// touch. A hole in a hugetlb channel refills from the free huge-page pool, and when the
// application has emptied that pool first the daemon's next touch is SIGBUS: one app could
// kill the daemon.
//
// The guard makes that touch harmless, as Wayland compositors do for client memory: a
// SIGBUS handler that finds the faulting address inside a registered channel mapping maps
// private anonymous zero pages over the faulting page (MAP_FIXED) and returns, so the access
// is retried and reads zeros, which the daemon already treats as the app's garbage (chains
// fail validation, drops are counted on that channel only). The page is counted against the
// channel (`machnetctl channels`: memory_faults). A SIGBUS anywhere else is not ours: the
// previous disposition runs (by default, the process dies with a core as before).
//
// The registry is a fixed table of atomics: the handler reads it without locks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace machnet::shm {

// Installs the process-wide SIGBUS handler once (idempotent, thread-safe).
void install_sigbus_guard();

// Registers [base, base + size), mapped in pages of page_size bytes. Returns the slot, or -1
// when the table (4096, the largest [channels] max_channels) is full.
int sigbus_guard_add(const uint8_t* base, size_t size, size_t page_size);
void sigbus_guard_remove(int slot);
// Pages of the mapping replaced by zeros after the application removed them.
uint64_t sigbus_guard_faults(int slot);

}  // namespace machnet::shm
