// FlowIo over DPDK mbufs and channel buffers: what a Flow's packets and bytes become.
// Engine thread only; nothing here allocates, locks, logs or makes a syscall.
#include "engine/remote_flow.h"

#include <algorithm>
#include <cstring>

#include "channel/channel_layout.h"
#include "engine/port_io.h"
#include "net/checksum.h"

namespace machnet::engine {

RemoteFlow::RemoteFlow(FlowContext& ctx, const FlowKey& k, EngineChannel* o, bool is_client, uint32_t conn_id,
                       uint32_t isn)
    : key(k), owner(o), client(is_client), flow(ctx.params, *this, ctx.wheel, conn_id, isn), ctx_(ctx) {
  addr.src_ip = Ipv4Address{k.src_ip};
  addr.dst_ip = Ipv4Address{k.dst_ip};
  addr.src_port = k.src_port;
  addr.dst_port = k.dst_port;
  if (ctx.port) addr.src_mac = ctx.port->interface().mac;
  if (owner) {
    rx_bufs_.reserve(owner->view.geometry().max_chain);
    ++owner->rx_flows;
    counted_ = true;
  }
  flow.set_user(this);
}

RemoteFlow::~RemoteFlow() = default;

bool RemoteFlow::transmit(const net::MachnetHeader& h, const transport::TxMessage* msg, uint32_t offset, uint32_t len) {
  if (ctx_.port == nullptr) [[unlikely]] return false;  // tests without a port
  PortIo& port = *ctx_.port;
  rte_mbuf* m = port.alloc_st();
  if (m == nullptr) [[unlikely]] return false;
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  net::write_machnet_headers(frame, addr, h, len, port.tx_checksum());
  const auto* rec = len > 0 ? static_cast<const TxRecord*>(msg->cookie) : nullptr;
  // Without checksum offload the payload is summed as it is copied: one pass, not two.
  const bool sum = port.tx_checksum() == net::TxChecksum::kSoftware;
  uint64_t payload_sum = 0;
  auto copy = [sum, &payload_sum](uint8_t* to, const uint8_t* from, uint32_t n, uint32_t at) {
    if (sum) payload_sum += net::sum_at(net::copy_and_sum(to, from, n), at);
    else std::memcpy(to, from, n);
  };
  if (rec && rec->channel == nullptr) {
    copy(frame + net::kFrameOverhead, rec->bytes.data() + offset, len, 0);
  } else if (rec) {
    // [offset, offset + len) of the message, out of the sender's buffers: copied into the
    // frame, or (zero copy) each piece chained to it as a segment that points there.
    const channel::ChannelView& v = rec->channel->view;
    const bool zero_copy = port.zero_copy_ok(len, addr.dst_ip);
    uint8_t* const payload = frame + net::kFrameOverhead;
    uint8_t* out = payload;
    rte_mbuf* tail = m;
    uint32_t k = 0, skip = offset;
    const uint32_t bs = v.geometry().buffer_size;
    if (rec->uniform) {  // full buffers first (what libmachnet writes): jump straight there
      k = std::min<uint32_t>(offset / bs, static_cast<uint32_t>(rec->idx.size()) - 1);
      skip = offset - k * bs;
    }
    while (skip >= rec->len[k]) skip -= rec->len[k++];
    if (zero_copy) {
      m->data_len = m->pkt_len = net::kFrameOverhead;
      m->ol_flags = 0;
    }
    for (uint32_t left = len; left > 0; ++k, skip = 0) {
      const uint32_t c = std::min(left, rec->len[k] - skip);
      if (!zero_copy) {
        copy(out, v.data(rec->idx[k]) + skip, c, static_cast<uint32_t>(out - payload));
        out += c;
      } else if (!port.append_external_st(m, tail, v.data(rec->idx[k]) + skip, static_cast<uint16_t>(c))) [[unlikely]] {
        rte_pktmbuf_free(m);
        return false;
      }
      left -= c;
    }
    if (zero_copy) {  // no checksum to finish (PortIo::zero_copy_ok): lengths are set
      port.count_zero_copy_st();
      port.queue_tx_st(m);
      return true;
    }
  }
  port.finish_machnet_frame(m, len, net::fold_sum(payload_sum));
  port.queue_tx_st(m);
  return true;
}

void RemoteFlow::tx_done(transport::TxMessage* msg) {
  auto* rec = static_cast<TxRecord*>(msg->cookie);
  if (rec->channel) rec->channel->return_to_app_st(rec->idx.data(), static_cast<uint32_t>(rec->idx.size()));
  ctx_.records.give_back(rec);
}

bool RemoteFlow::rx_begin(uint32_t msg_len) {
  if (owner == nullptr) return true;  // orphaned: taken and dropped (rx_append/rx_end ignore it)
  EngineChannel& ch = *owner;
  const auto& g = ch.view.geometry();
  const uint32_t need = channel::buffers_for(msg_len, g.buffer_size);
  if (msg_len > g.max_message_bytes || need > g.daemon_pool_count) [[unlikely]] {
    // Could never fit this channel (a peer configured for larger messages): waiting would
    // block the flow for good. Taken and dropped (rx_append/rx_end ignore it), counted.
    ch.count_drop_st(channel::kDropBadLength);
    return true;
  }
  // First come, first served: while another flow's message waits for room, a new one
  // queues behind it, so a large message is never starved by a stream of small ones.
  const bool others_first = ch.rx_waiting > 0 && !rx_waiting_;
  if (!others_first && ch.stash.size() < need) ch.reclaim_st();
  if (others_first || ch.stash.size() < need || !ch.to_app_has_slot()) {
    if (!rx_waiting_) {
      rx_waiting_ = true;
      ++ch.rx_waiting;
    }
    wait_for_room_st();
    return false;
  }
  if (rx_waiting_) {
    rx_waiting_ = false;
    --ch.rx_waiting;
  }
  // The whole message is reserved now (never half a message for want of buffers); the
  // flow counts what it has not filled yet as window (Flow::advertised_window).
  rx_bufs_.assign(ch.stash.end() - need, ch.stash.end());
  ch.stash.resize(ch.stash.size() - need);
  ++ch.rx_reserved_slots;
  rx_len_ = msg_len;
  rx_filled_ = 0;
  rx_open_ = true;
  start_reassembly_st();
  return true;
}

void RemoteFlow::start_reassembly_st() {
  rx_progress_us_ = now_us();
  reassembling_pos_ = static_cast<uint32_t>(owner->reassembling.size());
  owner->reassembling.push_back(this);
}

// Swap-remove: the flow that was last takes this one's place.
void RemoteFlow::end_reassembly_st() {
  auto& list = owner->reassembling;
  RemoteFlow* last = list.back();
  list[reassembling_pos_] = last;
  last->reassembling_pos_ = reassembling_pos_;
  list.pop_back();
}

void RemoteFlow::rx_append(const uint8_t* data, uint32_t len) {
  if (!rx_open_) return;
  rx_progress_us_ = now_us();
  const channel::ChannelView& v = owner->view;
  const uint32_t bs = v.geometry().buffer_size;
  while (len > 0) {  // the flow never appends past rx_len_
    const uint32_t k = rx_filled_ / bs, off = rx_filled_ % bs;
    const uint32_t c = std::min(len, bs - off);
    std::memcpy(v.data(rx_bufs_[k]) + off, data, c);
    data += c;
    len -= c;
    rx_filled_ += c;
  }
}

void RemoteFlow::rx_end() {
  if (!rx_open_) return;
  EngineChannel& ch = *owner;
  const channel::ChannelView& v = ch.view;
  const auto& g = v.geometry();
  const uint32_t n = static_cast<uint32_t>(rx_bufs_.size());
  for (uint32_t k = 0; k < n; ++k) {
    channel::BufferDesc* d = v.desc(rx_bufs_[k]);
    d->len = k + 1 < n ? g.buffer_size : rx_len_ - (n - 1) * g.buffer_size;
    d->next = k + 1 < n ? rx_bufs_[k + 1] : channel::kNoBuffer;
    ch.lent[rx_bufs_[k] - g.daemon_pool_first] = 1;
  }
  channel::BufferDesc* h = v.desc(rx_bufs_[0]);
  h->msg_len = rx_len_;
  h->flags = 0;
  h->reserved = 0;
  h->src_ip = key.dst_ip;  // as the message travelled: from the peer to us
  h->dst_ip = key.src_ip;
  h->src_port = key.dst_port;
  h->dst_port = key.src_port;
  --ch.rx_reserved_slots;
  end_reassembly_st();
  if (!ch.to_app.enqueue(rx_bufs_[0])) [[unlikely]] {
    // Only a corrupted ring (the application wrote its consumer index) gets here: the slot
    // was reserved in rx_begin. The buffers come back; the message is counted as dropped.
    for (uint32_t b : rx_bufs_) ch.lent[b - g.daemon_pool_first] = 0;
    ch.stash.insert(ch.stash.end(), rx_bufs_.begin(), rx_bufs_.end());
    if (ch.to_app.newly_corrupt()) ch.count_drop_st(channel::kDropBadRingIndex);
    rx_open_ = false;
    rx_bufs_.clear();
    return;
  }
  bump(ch.counters.msgs_out);
  bump(ch.counters.bytes_out, rx_len_);
  ch.stats_dirty = true;
  ch.ring_doorbell = true;
  rx_open_ = false;
  rx_bufs_.clear();
}

void RemoteFlow::rx_discard() {
  if (!rx_open_) return;
  if (owner) {
    end_reassembly_st();
    owner->stash.insert(owner->stash.end(), rx_bufs_.begin(), rx_bufs_.end());
    --owner->rx_reserved_slots;
    owner->room_changed = true;
  }
  rx_bufs_.clear();
  rx_open_ = false;
}

// Room for messages this flow has not begun: its share of the channel's free buffers
// (the flows receiving into one channel split it evenly, so together they never invite
// more than it holds), none while another flow's message waits for room. A flow that
// gets less than a full window is listed to hear when room comes back (Flow::on_rx_room
// then sends the peer a window update): without that, a peer that was not blocked would
// learn of the room only from its persist probe.
uint32_t RemoteFlow::rx_room_packets() {
  if (owner == nullptr) return transport::kMaxWindow;  // orphaned: everything is dropped
  EngineChannel& ch = *owner;
  const auto& g = ch.view.geometry();
  uint64_t packets = 0;
  if (ch.to_app_has_slot() && (ch.rx_waiting == 0 || rx_waiting_)) {
    const uint64_t bytes = uint64_t{ch.stash.size()} * g.buffer_size / std::max(ch.rx_flows, 1u);
    packets = bytes / ctx_.params.mss;
  }
  if (packets < transport::kMaxWindow) wait_for_room_st();
  return static_cast<uint32_t>(std::min<uint64_t>(packets, 0xffff));
}

void RemoteFlow::wait_for_room_st() {
  if (blocked_listed || owner == nullptr) return;
  blocked_listed = true;
  owner->blocked_flows.push_back(this);
}

void RemoteFlow::leave_owner_st() {
  if (owner == nullptr) return;
  if (rx_waiting_) {
    rx_waiting_ = false;
    --owner->rx_waiting;
    owner->room_changed = true;  // the flows queued behind it may go on
  }
  if (counted_) {
    counted_ = false;
    --owner->rx_flows;
  }
}

void RemoteFlow::orphan_st(uint64_t now_us) {
  if (owner == nullptr) return;
  rx_discard();
  leave_owner_st();
  if (blocked_listed) std::erase(owner->blocked_flows, this);
  blocked_listed = false;
  flow.for_each_message([](transport::TxMessage* m) {
    auto* rec = static_cast<TxRecord*>(m->cookie);
    if (rec->channel == nullptr) return;
    const channel::ChannelView& v = rec->channel->view;
    rec->bytes.resize(m->len);
    uint32_t off = 0;
    for (size_t k = 0; k < rec->idx.size(); ++k) {
      std::memcpy(rec->bytes.data() + off, v.data(rec->idx[k]), rec->len[k]);
      off += rec->len[k];
    }
    rec->channel = nullptr;  // its buffers die with the channel; nothing goes back
  });
  owner = nullptr;
  flow.on_rx_room(now_us);  // a message that waited for room is now simply dropped
  flow.close(now_us);
}

bool RemoteFlow::may_hold() {
  HeldBuffers* h = ctx_.held;
  if (h == nullptr) return true;
  const uint32_t n = h->count.load(std::memory_order_relaxed);
  if (n >= h->cap) [[unlikely]] {
    h->refused.store(h->refused.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return false;
  }
  h->count.store(n + 1, std::memory_order_relaxed);
  return true;
}

void RemoteFlow::release(void* handle) {
  if (HeldBuffers* h = ctx_.held) h->count.store(h->count.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  rte_pktmbuf_free(static_cast<rte_mbuf*>(handle));
}

void RemoteFlow::on_established() { ctx_.events.flow_established_st(*this); }

void RemoteFlow::on_closed(transport::FlowError why) {
  leave_owner_st();
  ctx_.events.flow_ended_st(*this, why);
}

}  // namespace machnet::engine
