// One channel as its engine sees it. Created by the control thread (control/app_sessions.h), handed
// to the engine with an AddChannel command; from then until the RemoveChannel command
// completes, every field but `counters` is the engine's alone.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "channel/channel_layout.h"
#include "channel/channel_view.h"
#include "channel/spsc_ring.h"

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
        event_fd(doorbell_fd) {
    stash.reserve(g.daemon_pool_count);
    for (uint32_t i = 0; i < g.daemon_pool_count; ++i) stash.push_back(g.daemon_pool_first + g.daemon_pool_count - 1 - i);
  }

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
  const int event_fd;                 // doorbell: written when the app sleeps and we deliver
  bool ring_doorbell = false;         // delivered this iteration
  uint64_t hold_since_ns = 0;         // when the head message started waiting (0: not waiting)
  bool stats_dirty = true;
  uint32_t rx_reserved_slots = 0;
  bool room_changed = false;  // buffers or slots came free: flows in blocked_flows may go on            // to_app slots promised to messages being reassembled
  std::vector<RemoteFlow*> blocked_flows;  // flows waiting for this channel to have room
  ChannelCounters counters;
};

}  // namespace machnet::engine
