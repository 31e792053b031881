// One channel as its engine sees it, and the buffer bookkeeping every path that fills or
// drains it shares (local delivery, remote flows, flow-ended notices). Created by the
// control thread (control/app_sessions.h), handed to one engine with an AddChannel command; from then until the
// RemoveChannel command completes, every field but `counters` is that engine's alone.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "channel/channel_layout.h"
#include "channel/channel_view.h"
#include "channel/spsc_ring.h"
#include "engine/flow_key.h"

namespace machnet::engine {

class RemoteFlow;

// Written by the engine only (relaxed load+store, no read-modify-write needed), read by the
// control thread for `machnetctl channels`. The authoritative copy: the one in shared memory
// is a courtesy mirror the application may overwrite.
struct ChannelCounters {
  std::atomic<uint64_t> msgs_in{0}, bytes_in{0}, msgs_out{0}, bytes_out{0};
  std::atomic<uint64_t> held{0};  // times a message waited because its receiver was full
  std::atomic<uint64_t> drops[channel::kDropSlots] = {};
};

inline void bump(std::atomic<uint64_t>& c, uint64_t by = 1) {
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

struct EngineChannel {
  EngineChannel(uint32_t channel_id, uint8_t* base, const channel::ChannelGeometry& g, int doorbell_fd)
      : id(channel_id),
        view(base, g),
        to_daemon(view.ring(g.to_daemon), g.to_daemon.slots, 0),
        to_app(view.ring(g.to_app), g.to_app.slots, 0),
        app_free(view.ring(g.app_free), g.app_free.slots, g.app_pool_count),
        daemon_free(view.ring(g.daemon_free), g.daemon_free.slots, 0),
        app_owned(g.app_pool_count, 1),
        lent(g.daemon_pool_count, 0),
        chain_idx(g.max_chain),
        chain_len(g.max_chain),
        doorbell_fd(doorbell_fd) {
    // In ascending order: a message takes the stash's last buffers in order, so its chain
    // is a run of adjacent buffers that the library copies out in one block
    // (channel::adjacent_run), and the buffers come back in that order.
    stash.reserve(g.daemon_pool_count);
    for (uint32_t i = 0; i < g.daemon_pool_count; ++i) stash.push_back(g.daemon_pool_first + i);
  }

  // Takes back daemon-pool buffers the app finished with (up to a burst) into `stash`.
  // Returns how many came back.
  uint32_t reclaim_st();
  // Gives app-pool buffers back to the app (a message was sent or dropped).
  void return_to_app_st(const uint32_t* idx, uint32_t n);
  void count_drop_st(uint32_t reason);
  // Room in to_app for one more message beyond the slots promised to reassemblies.
  bool to_app_has_slot() { return to_app.free_space(rx_reserved_slots + 1) > rx_reserved_slots; }
  // Queues a zero-length message flagged kMsgFlowEnded: machnet_recv returns -1 with `err`
  // for the flow `key` (named as this channel's app names it). False when there was no room
  // (counted as receiver_full: the app will not hear of it).
  bool notify_flow_ended_st(const FlowKey& key, int err);
  // A reservation that stopped moving while other flows wait for this channel's room is
  // taken to be a peer that announced a message and went silent: end(f) is called for each
  // that last moved `limit_us` or more ago, and must end its reassembly (reset the flow).
  // Uncontended, a stall costs nobody anything and is left alone (a VM pause, a blackout).
  template <class Flow, class End>
  void end_stalled_reassemblies_st(uint64_t now_us, uint64_t limit_us, End&& end) {
    if (rx_waiting == 0) return;
    for (size_t i = 0; i < reassembling.size();) {
      Flow* f = reassembling[i];
      if (now_us - f->rx_progress_us() < limit_us) {
        ++i;
        continue;
      }
      const size_t before = reassembling.size();
      end(*f);
      if (reassembling.size() == before) ++i;  // (end must remove it; never loop on it)
    }
  }
  // Copies the counters into the channel's shared memory for the app's machnet_stats.
  void publish_stats_st();

  const uint32_t id;
  const channel::ChannelView view;
  channel::RingConsumer to_daemon;    // messages from the app
  channel::RingProducer to_app;       // messages to the app
  channel::RingProducer app_free;     // app-pool buffers given back to the app
  channel::RingConsumer daemon_free;  // daemon-pool buffers the app gives back
  std::vector<uint8_t> app_owned;     // per app-pool buffer: 1 while the app holds it
  std::vector<uint8_t> lent;          // per daemon-pool buffer: 1 while the app holds it
  std::vector<uint32_t> stash;        // daemon-pool buffers the engine may fill
  std::vector<uint32_t> chain_idx;    // scratch: the checked chain being moved
  std::vector<uint32_t> chain_len;
  const int doorbell_fd;              // our end of the doorbell socketpair (shm/doorbell.h)
  bool doorbell_watched = false;      // in the engine's epoll set (until the app's end closes)
  bool ring_doorbell = false;         // delivered this iteration
  uint64_t hold_since_ns = 0;         // when the head message started waiting (0: not waiting)
  bool stats_dirty = true;
  uint32_t rx_reserved_slots = 0;  // to_app slots promised to messages being reassembled
  bool room_changed = false;        // buffers or slots came free: blocked_flows may go on
  // Flows waiting for this channel to have room, first come first served: those whose next
  // message could not reserve its buffers (rx_waiting of them), and those that advertised
  // a small window and owe their peer an update when room comes back.
  std::vector<RemoteFlow*> blocked_flows;
  uint32_t rx_waiting = 0;  // flows in blocked_flows whose message waits to reserve
  // Flows whose message holds a reservation here (RemoteFlow::start_reassembly_st): one
  // that stalls while others wait is dropped ([limits] reassembly_timeout_ms).
  std::vector<RemoteFlow*> reassembling;
  uint32_t rx_flows = 0;    // remote flows receiving into this channel: they share its room
  uint32_t engine_id = 0;           // the engine that serves it
  uid_t uid = 0;                    // the owning application's user (SO_PEERCRED): [limits] per user
  ChannelCounters counters;
};

}  // namespace machnet::engine
