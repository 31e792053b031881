#include "transport/flow.h"

#include <algorithm>

#include "transport/seq.h"

namespace machnet::transport {

using net::MachnetHeader;

const char* to_string(FlowState s) {
  switch (s) {
    case FlowState::kSynSent: return "syn_sent";
    case FlowState::kEstablished: return "established";
    case FlowState::kClosing: return "closing";
    case FlowState::kTimeWait: return "time_wait";
    case FlowState::kClosed: return "closed";
  }
  return "?";
}

const char* to_string(FlowError e) {
  switch (e) {
    case FlowError::kNone: return "";
    case FlowError::kConnectTimeout: return "connect timed out: no answer from the peer daemon";
    case FlowError::kRefused: return "refused: nobody listens on that port";
    case FlowError::kRetransmitLimit: return "reset: the peer stopped acknowledging ([transport] give_up_ms)";
    case FlowError::kPeerReset: return "reset by the peer";
    case FlowError::kProtocolError: return "reset: the peer broke the message framing (protocol_errors)";
    case FlowError::kPeerClosed: return "closed by the peer";
    case FlowError::kLocalClose: return "closed";
    case FlowError::kLocalAbort: return "aborted: the application went away";
    case FlowError::kIdleTimeout: return "reset: no message either way for [transport] idle_timeout_ms";
    case FlowError::kStalled:
      return "reset: the peer left a message half-sent while other flows waited for room ([limits] reassembly_timeout_ms)";
  }
  return "?";
}

Flow::Flow(const FlowParams& params, FlowIo& io, TimerWheel& wheel, uint32_t conn_id, uint32_t isn)
    : params_(params),
      io_(io),
      wheel_(wheel),
      conn_id_(conn_id),
      cc_(params.cc),
      rtt_(params.rto_min_us, params.rto_max_us, params.initial_rto_us),
      isn_(isn),
      snd_una_(isn),
      snd_nxt_(isn) {
  timer_.owner = this;
}

Flow::~Flow() {
  wheel_.cancel(timer_);
  release_all();
}

// ---------------------------------------------------------------------------------------
// Handshake and teardown.

void Flow::connect(uint64_t now_us) {
  state_ = FlowState::kSynSent;
  connect_deadline_us_ = now_us + params_.connect_timeout_us;
  syn_interval_us_ = params_.initial_rto_us;
  syn_tsval_ = stamp(now_us);
  send_control(net::kFlagSyn, now_us);
  arm_timer(std::min(now_us + syn_interval_us_, connect_deadline_us_));
}

void Flow::accept(const MachnetHeader& syn, uint64_t now_us) {
  rcv_nxt_ = syn.seq;
  ts_recent_ = syn.tsval;
  peer_window_ = syn.window;
  peer_window_ts_ = syn.tsval;
  state_ = FlowState::kEstablished;
  send_control(net::kFlagSynAck | net::kFlagAck, now_us);
  last_rx_us_ = last_msg_us_ = now_us;
  keepalive(now_us);
  io_.on_established();
}

void Flow::close(uint64_t now_us) {
  if (state_ == FlowState::kSynSent) return abort(FlowError::kLocalClose, false);
  if (state_ != FlowState::kEstablished) return;  // closing already (ours or the peer's FIN)
  state_ = FlowState::kClosing;
  closed_here_ = true;
  fin_queued_ = true;
  pump(now_us);
}

// The peer's FIN was consumed: everything it sent before it reached the application, and
// its direction is over. Ours ends too, but in order: what our application had queued
// (accepted by machnet_send) and what is in flight is still delivered, then our FIN. So a
// close never throws away the other side's accepted messages; messages sent after this
// point are refused by the owner (the flow is no longer established).
void Flow::after_peer_fin(uint64_t now_us) {
  if (!peer_fin_ || peer_fin_handled_) return;
  peer_fin_handled_ = true;
  if (state_ == FlowState::kEstablished) {
    state_ = FlowState::kClosing;
    fin_queued_ = true;
  }
  if (state_ == FlowState::kClosing && fin_acked_) enter_time_wait(now_us);
}

// Both directions are over. The ACK of the peer's FIN (sent here) may be lost; the peer
// then retransmits its FIN (and anything it still thinks in flight), and must hear an ACK,
// not a reset, or an orderly close would end as ECONNRESET on its side. So the flow
// lingers time_wait_us, answering retransmissions, then reports the close. Both sides pass
// through here: either may send the last ACK (simultaneous close).
void Flow::enter_time_wait(uint64_t now_us) {
  state_ = FlowState::kTimeWait;
  rto_deadline_us_ = 0;
  release_all();  // nothing of ours is unacknowledged; packets beyond the FIN mean nothing
  send_ack(now_us);
  time_wait_until_us_ = now_us + time_wait_us();
  arm_timer(time_wait_until_us_);
}

void Flow::abort(FlowError why, bool tell_peer) {
  if (state_ == FlowState::kClosed) return;
  if (tell_peer) send_control(net::kFlagRst, 0);
  finish(why);
}

void Flow::finish(FlowError why) {
  if (state_ == FlowState::kClosed) return;
  state_ = FlowState::kClosed;
  error_ = why;
  wheel_.cancel(timer_);
  release_all();
  io_.on_closed(why);
}

// Gives every message and every kept packet back, each exactly once.
void Flow::release_all() {
  for (uint32_t s = snd_una_; s != snd_nxt_; ++s) {
    TxSegment& seg = tx_ring_[s % kMaxWindow];
    if ((seg.flags & net::kFlagLast) && seg.msg) io_.tx_done(seg.msg);
    seg = TxSegment{};
  }
  snd_una_ = snd_nxt_;
  sacked_ = lost_ = 0;
  while (queue_head_) {  // includes a message partly segmented
    TxMessage* m = queue_head_;
    queue_head_ = m->next;
    io_.tx_done(m);
  }
  queue_tail_ = nullptr;
  queued_ = 0;
  queue_offset_ = 0;
  fin_queued_ = false;
  for (RxSegment& seg : rx_ring_) {
    if (seg.held) io_.release(seg.handle);
    seg = RxSegment{};
  }
  held_ = 0;
  if (in_message_) io_.rx_discard();
  in_message_ = false;
}

// ---------------------------------------------------------------------------------------
// Sending.

void Flow::send(TxMessage* msg) {
  msg->next = nullptr;
  if (queue_tail_) queue_tail_->next = msg;
  else queue_head_ = msg;
  queue_tail_ = msg;
  ++queued_;
}

// Our clock as a header's tsval: 0 means "no timestamp" in tsecr, so never 0.
uint32_t Flow::stamp(uint64_t now_us) {
  const uint32_t ts = static_cast<uint32_t>(now_us);
  return ts == 0 ? 1 : ts;
}

MachnetHeader Flow::header(uint8_t flags, uint32_t seq, uint64_t now_us) {
  MachnetHeader h;
  h.flags = flags;
  h.conn_id = conn_id_;
  h.seq = seq;
  h.tsval = stamp(now_us);
  h.tsecr = ts_recent_;
  h.window = advertised_window();
  adv_window_ = h.window;
  adv_edge_ = rcv_nxt_ + h.window;
  if (state_ != FlowState::kSynSent) {
    h.flags |= net::kFlagAck;
    h.ack = rcv_nxt_;
    if (held_ > 0) {
      for (uint32_t i = 0; i + 1 < kMaxWindow; ++i) {
        if (rx_ring_[(rcv_nxt_ + 1 + i) % kMaxWindow].held) h.sack[i / 64] |= uint64_t{1} << (i % 64);
      }
    }
  }
  return h;
}

// Packets from rcv_nxt_ we can take: the rest of the message being reassembled (its
// buffers were all reserved when it began, so they count as room) plus the application's
// room for messages not begun yet. While a message waits for room (rx_blocked_) nothing
// more can be taken: 0, which the sender treats as flow control (persist), not as loss.
uint16_t Flow::advertised_window() {
  if (rx_blocked_) return 0;
  const uint32_t reserved = in_message_ ? (message_left_ + params_.mss - 1) / params_.mss : 0;
  const uint64_t room = uint64_t{reserved} + io_.rx_room_packets();
  return static_cast<uint16_t>(std::min<uint64_t>({params_.rx_window, kMaxWindow, room, 0xffff}));
}

bool Flow::can_send_new() const {
  if (!queue_head_ && !fin_queued_) return false;
  if (snd_nxt_ - snd_una_ >= kMaxWindow) return false;
  if (probe_) return true;
  return pipe() < cc_.window() && seq_lt(snd_nxt_, snd_una_ + peer_window_);
}

bool Flow::wants_pump() const {
  if (state_ != FlowState::kEstablished && state_ != FlowState::kClosing) return false;
  return (ack_pending_ && ack_due_us_ == 0) || (lost_ > 0 && pipe() < cc_.window()) || can_send_new();
}

bool Flow::next_segment(TxSegment& seg) {
  seg = TxSegment{};
  if (queue_head_) {
    TxMessage* m = queue_head_;
    seg.msg = m;
    seg.offset = queue_offset_;
    seg.len = std::min(params_.mss, m->len - queue_offset_);
    if (queue_offset_ == 0) seg.flags |= net::kFlagFirst;
    queue_offset_ += seg.len;
    if (queue_offset_ == m->len) {
      seg.flags |= net::kFlagLast;
      queue_head_ = m->next;
      if (!queue_head_) queue_tail_ = nullptr;
      queue_offset_ = 0;
      --queued_;
    }
    return true;
  }
  if (fin_queued_) {
    fin_queued_ = false;
    seg.flags = net::kFlagFin;
    return true;
  }
  return false;
}

bool Flow::transmit_segment(uint32_t seq, uint64_t now_us) {
  TxSegment& seg = tx_ring_[seq % kMaxWindow];
  const bool fin = seg.flags & net::kFlagFin;
  MachnetHeader h = header(fin ? uint8_t{net::kFlagFin} : uint8_t(net::kFlagData | seg.flags), seq, now_us);
  if (seg.flags & net::kFlagFirst) h.msg_len = seg.msg->len;
  if (!io_.transmit(h, seg.msg, seg.offset, seg.len)) return false;
  seg.sent_us = now_us;
  seg.order = tx_order_++;
  ++stats_.tx_packets;
  ack_pending_ = false;  // the segment carried the ACK (a held one too)
  ack_due_us_ = 0;
  return true;
}

void Flow::pump(uint64_t now_us) {
  if (state_ != FlowState::kEstablished && state_ != FlowState::kClosing) return;
  const uint32_t cwnd = std::max(cc_.window(), 1u);
  // Retransmissions first, oldest first, within the congestion window.
  for (uint32_t s = snd_una_; lost_ > 0 && s != snd_nxt_ && pipe() < cwnd; ++s) {
    TxSegment& seg = tx_ring_[s % kMaxWindow];
    if (!seg.lost) continue;
    const bool sent_before = seg.sent_us != 0;  // or never left (no packet buffer then)
    if (!transmit_segment(s, now_us)) break;
    seg.retransmitted |= sent_before;
    seg.lost = false;
    --lost_;
    ++stats_.retransmissions;
  }
  // New segments.
  bool sent_new = false;
  while (can_send_new()) {
    TxSegment seg;
    if (!next_segment(seg)) break;
    const uint32_t seq = snd_nxt_++;
    tx_ring_[seq % kMaxWindow] = seg;
    if (probe_) {
      probe_ = false;
      ++stats_.window_probes;
    }
    if (!transmit_segment(seq, now_us)) {
      tx_ring_[seq % kMaxWindow].lost = true;  // sent later, like a retransmission
      ++lost_;
      break;
    }
    sent_new = true;
  }
  // The timer covers what is in flight, or probes a closed window with data waiting.
  const bool probe_later = snd_nxt_ == snd_una_ && peer_window_ == 0 && (queue_head_ || fin_queued_);
  if ((snd_nxt_ != snd_una_ || probe_later) && rto_deadline_us_ == 0) {
    rto_deadline_us_ = now_us + rtt_.rto_us();
    rearm_timer();
  }
  // New data restarts the tail-loss probe timer (RFC 8985 7.2): a probe is due only when
  // the flow has gone quiet.
  if (sent_new) schedule_loss_probe(now_us);
  if (ack_pending_ && now_us >= ack_due_us_) send_ack(now_us);
}

void Flow::send_ack(uint64_t now_us) {
  const MachnetHeader h = header(net::kFlagAck, snd_nxt_, now_us);
  if (io_.transmit(h, nullptr, 0, 0)) {
    ack_pending_ = false;
    ack_due_us_ = 0;
    ++stats_.tx_packets;
  }
}

void Flow::send_control(uint8_t flags, uint64_t now_us) {
  MachnetHeader h = header(flags, (flags & net::kFlagSyn) || (flags & net::kFlagSynAck) ? isn_ : snd_nxt_, now_us);
  if (io_.transmit(h, nullptr, 0, 0)) ++stats_.tx_packets;
}

// ---------------------------------------------------------------------------------------
// Receiving.

bool Flow::receive(const MachnetHeader& h, const uint8_t* data, uint32_t len, void* handle, uint64_t now_us) {
  ++stats_.rx_packets;
  if (state_ == FlowState::kClosed) return false;
  last_rx_us_ = now_us;
  if (state_ == FlowState::kTimeWait) {
    if (h.flags & net::kFlagRst) {
      finish(orderly_end());  // everything was delivered both ways already
    } else if (h.flags & (net::kFlagData | net::kFlagFin)) {
      // Our final ACK was lost: say it again. The time-wait is not restarted: should this
      // answer be lost too, the peer's next retransmission finds the flow gone, and the
      // reset it gets is taken as the orderly end (receive(), kFlagRst while closing).
      send_ack(now_us);
    }
    return false;
  }
  if (h.flags & net::kFlagRst) {
    if (state_ == FlowState::kSynSent) finish(FlowError::kRefused);
    // Both directions delivered, only our FIN unacknowledged: the peer ended after its
    // time-wait (or lost its flow) with our FIN's ACK lost. An orderly close, not a reset.
    else if (state_ == FlowState::kClosing && peer_fin_ && !fin_queued_ && !queue_head_ && snd_nxt_ - snd_una_ <= 1)
      finish(orderly_end());
    else finish(FlowError::kPeerReset);
    return false;
  }
  if (state_ == FlowState::kSynSent) {
    if (!(h.flags & net::kFlagSynAck)) {
      ++stats_.protocol_errors;
      return false;
    }
    rcv_nxt_ = h.seq;
    ts_recent_ = h.tsval;
    peer_window_ = h.window;
    peer_window_ts_ = h.tsval;
    // Only a SYN-ACK that echoes our latest SYN measures the path: one echoing an earlier
    // SYN (its SYN-ACK was lost, or the peer echoes the first SYN) would count the SYN
    // retransmission interval as round-trip time (Karn).
    if (h.tsecr != 0 && seq_ge(h.tsecr, syn_tsval_)) rtt_.sample(static_cast<uint32_t>(now_us) - h.tsecr);
    state_ = FlowState::kEstablished;
    wheel_.cancel(timer_);
    ack_now();
    last_msg_us_ = now_us;
    keepalive(now_us);
    io_.on_established();
    return false;
  }
  if (h.flags & net::kFlagSyn) {  // our SYN-ACK was lost: say it again
    // Echoing the SYN being answered (while no data came yet) gives the peer a true RTT
    // sample; the first SYN's timestamp would include its retransmission interval.
    if (rcv_nxt_ == h.seq && seq_gt(h.tsval, ts_recent_)) ts_recent_ = h.tsval;
    send_control(net::kFlagSynAck | net::kFlagAck, now_us);
    return false;
  }
  if (h.flags & net::kFlagSynAck) {  // our ACK of it was lost
    ack_now();
    return false;
  }
  process_ack(h, now_us);
  if (state_ == FlowState::kClosed || state_ == FlowState::kTimeWait) return false;
  bool kept = false;
  if (h.flags & (net::kFlagData | net::kFlagFin)) handle_data(h, data, len, handle, &kept, now_us);
  after_peer_fin(now_us);
  if (state_ == FlowState::kTimeWait) return false;  // enter_time_wait() released every kept packet
  return kept;
}

void Flow::process_ack(const MachnetHeader& h, uint64_t now_us) {
  if (!(h.flags & net::kFlagAck)) return;
  const uint32_t a = h.ack;
  if (seq_gt(a, snd_nxt_) || seq_lt(a, snd_una_ - kMaxWindow)) {
    ++stats_.protocol_errors;  // acknowledges what was never sent
    return;
  }
  timeouts_in_row_ = 0;  // the peer is alive
  const uint32_t old_window = peer_window_;
  uint32_t newly = 0;
  uint64_t latest_delivered_sent = 0;
  bool fin_acked = false;
  const bool advanced = seq_gt(a, snd_una_);
  if (advanced) {
    for (uint32_t s = snd_una_; s != a; ++s) {
      TxSegment& seg = tx_ring_[s % kMaxWindow];
      if (seg.sacked) --sacked_;
      else ++newly, on_delivered(seg, now_us);
      if (seg.lost) --lost_;
      latest_delivered_sent = std::max(latest_delivered_sent, seg.sent_us);
      if ((seg.flags & net::kFlagLast) && seg.msg) {
        ++stats_.tx_msgs;
        stats_.tx_bytes += seg.msg->len;
        last_msg_us_ = now_us;
        io_.tx_done(seg.msg);
      }
      if (seg.flags & net::kFlagFin) fin_acked = true;
      seg = TxSegment{};
    }
    snd_una_ = a;
    rto_deadline_us_ = 0;
    if (snd_una_ != snd_nxt_) {
      rto_deadline_us_ = now_us + rtt_.rto_us();
      rearm_timer();
    }
  }
  uint32_t highest_sacked = snd_una_;
  bool any_sacked = false;
  if (snd_una_ != snd_nxt_ && (h.sack[0] | h.sack[1])) {
    for (uint32_t i = 0; i < net::kSackBits; ++i) {
      if (!(h.sack[i / 64] >> (i % 64) & 1)) continue;
      const uint32_t s = a + 1 + i;
      if (seq_ge(s, snd_nxt_)) break;
      if (seq_lt(s, snd_una_)) continue;  // a late ACK: already acknowledged
      TxSegment& seg = tx_ring_[s % kMaxWindow];
      any_sacked = true;
      highest_sacked = s;
      if (seg.sacked) continue;
      seg.sacked = true;
      ++sacked_;
      ++newly;
      if (seg.lost) seg.lost = false, --lost_;
      latest_delivered_sent = std::max(latest_delivered_sent, seg.sent_us);
      on_delivered(seg, now_us);
    }
  }
  take_peer_window(h, advanced);
  if (undo_tsval_ != 0 && seq_gt(a, undo_una_) && h.tsecr != 0) {
    // Eifel (RFC 3522): an ACK for data echoing a timestamp from before the timeout was
    // caused by the original transmission, so the timeout was spurious (a late ACK, not a
    // loss). Undo its window cut and the retransmission marks of what this ACK does not
    // show missing: a hole below its highest SACKed segment stays marked (under heavy loss
    // the late ACK is real and so is that hole; unmarking it would cost another timeout).
    if (seq_lt(h.tsecr, undo_tsval_)) {
      cc_.undo(undo_cwnd_);
      ++stats_.spurious_timeouts;
      for (uint32_t s = any_sacked ? highest_sacked + 1 : snd_una_; seq_lt(s, snd_nxt_); ++s) {
        TxSegment& seg = tx_ring_[s % kMaxWindow];
        if (seg.lost) seg.lost = false, --lost_;
      }
    }
    undo_tsval_ = 0;
  }
  // An RTT sample from every ACK that reports new data (cumulatively or by SACK): the
  // receiver echoes the newest timestamp it has seen, so the sample is fresh either way.
  // Not from an ACK that echoes a timestamp older than the last (re)transmission of what it
  // newly reports: the receiver echoes new data only (never a duplicate), so after a lost
  // ACK the next one echoes the original's time and would measure the retransmission
  // timeout, not the path (Karn's ambiguity, which timestamps alone no longer settle).
  uint32_t sample = 0;
  const uint32_t newest_sent = static_cast<uint32_t>(latest_delivered_sent);
  if (newly > 0 && h.tsecr != 0 && seq_ge(h.tsecr, newest_sent == 0 ? 1 : newest_sent)) {
    sample = static_cast<uint32_t>(now_us) - h.tsecr;
    if (sample < 10'000'000) rtt_.sample(sample);
    else sample = 0;
  }
  if (newly > 0) cc_.on_ack(newly, sample, now_us);
  // A recovery episode ends when everything outstanding at its start is acknowledged; the
  // next loss found starts a new one (and the window's next cut).
  if (in_recovery_ && seq_ge(snd_una_, recovery_point_)) {
    in_recovery_ = false;
    rack_.on_recovery_end();
  }
  if (tlp_out_) end_loss_probe(h, now_us);
  if (snd_una_ == snd_nxt_) {
    reo_deadline_us_ = pto_deadline_us_ = 0;
  } else {
    if (newly > 0) detect_losses(now_us, false);
    if (advanced) schedule_loss_probe(now_us);
  }
  if (old_window == 0 && peer_window_ > 0 && snd_una_ != snd_nxt_) {
    // The window reopened. The receiver kept what reached it while closed (it holds
    // segments, it does not drop them), so nothing is resent: the ACKs that follow report
    // what is missing, as always. The persist timer's backoff ends with the persist state.
    rtt_.end_backoff();
    rto_deadline_us_ = now_us + rtt_.rto_us();
    rearm_timer();
  }
  if (fin_acked) {
    fin_acked_ = true;
    if (state_ == FlowState::kClosing && peer_fin_) enter_time_wait(now_us);
  }
}

// The window is taken only from an ACK at least as new as the one it was taken from last:
// ACKs overtake each other, and a late one would close (or open) the window on stale
// information. An ACK that moves snd_una_ is new by definition; one that repeats it is
// judged by the peer's clock (tsval), which only grows.
void Flow::take_peer_window(const MachnetHeader& h, bool advanced) {
  if (!advanced && (h.ack != snd_una_ || seq_lt(h.tsval, peer_window_ts_))) return;
  peer_window_ = h.window;
  peer_window_ts_ = h.tsval;
}

// RACK (RFC 8985 6): the latest transmission known delivered tells which earlier ones are
// lost: a segment sent before it that has had that segment's round trip plus the reorder
// window to arrive, and has not. Those still within it set the reorder timer, so a loss
// with nothing sent after it is found without waiting for another ACK or the RTO.
void Flow::on_delivered(const TxSegment& seg, uint64_t now_us) {
  if (rack_.on_delivered(seg.sent_us, seg.order, seg.retransmitted, now_us, rtt_.min_us())) ++stats_.spurious_retransmits;
}

void Flow::detect_losses(uint64_t now_us, bool from_timer) {
  reo_deadline_us_ = 0;
  if (!rack_.valid()) return;
  const uint32_t reo_wnd = rack_.reo_wnd_us(rtt_.min_us(), rtt_.srtt_us());
  uint64_t next = 0;
  bool lost_any = false;
  for (uint32_t s = snd_una_; s != snd_nxt_; ++s) {
    TxSegment& seg = tx_ring_[s % kMaxWindow];
    if (seg.sacked || seg.lost) continue;
    if (!rack_.sent_before_latest(seg.order)) {
      // Every segment above one sent only once went out after it: none of them can be
      // judged yet. This keeps an ACK of in-order data from walking the whole window.
      if (!seg.retransmitted) break;
      continue;
    }
    const uint64_t at = rack_.lost_at_us(seg.sent_us, reo_wnd);
    if (at > now_us) {
      if (next == 0 || at < next) next = at;
      continue;
    }
    seg.lost = true;
    ++lost_;
    ++(from_timer ? stats_.rack_timer_losses : stats_.fast_retransmits);
    lost_any = true;
  }
  reo_deadline_us_ = next;
  if (lost_any) enter_recovery(now_us);
  rearm_timer();
}

// One window cut per episode of losses (RFC 6675's recovery point), however many segments
// of the episode are found lost, and however they are found.
void Flow::enter_recovery(uint64_t now_us) {
  pto_deadline_us_ = 0;  // recovery retransmits on its own; no probe meanwhile
  if (in_recovery_) return;
  in_recovery_ = true;
  recovery_point_ = snd_nxt_;
  ++stats_.recoveries;
  cc_.on_loss(now_us, rtt_.srtt_us());
}

// Tail-loss probe (RFC 8985 7): when the flow has gone quiet with data outstanding, PTO
// after the last new data or ACK, one segment goes out so that the receiver's ACK reveals
// a loss at the tail, which no later segment's ACK would; without it, a window-1 RPC or a
// flow with one or two packets left waits for the RTO. Not during recovery, not with a
// probe outstanding, not while the peer's window is closed (that is persist), not before
// the first RTT sample, and never later than the RTO.
void Flow::schedule_loss_probe(uint64_t now_us) {
  pto_deadline_us_ = 0;
  if (snd_una_ != snd_nxt_ && !tlp_out_ && !in_recovery_ && lost_ == 0 && peer_window_ > 0 && rtt_.srtt_us() != 0) {
    const uint64_t at = now_us + std::max<uint64_t>(2 * uint64_t{rtt_.srtt_us()}, params_.tlp_min_us);
    if (rto_deadline_us_ == 0 || at < rto_deadline_us_) pto_deadline_us_ = at;
  }
  rearm_timer();
}

// The probe is new data if the receiver's window has room for it (one packet beyond the
// congestion window, RFC 8985 7.3), else the last segment not reported received. The RTO
// then starts again: if the probe goes unanswered too, the timeout is the last resort.
void Flow::send_loss_probe(uint64_t now_us) {
  pto_deadline_us_ = 0;
  if (snd_una_ == snd_nxt_ || (state_ != FlowState::kEstablished && state_ != FlowState::kClosing)) return;
  if (peer_window_ == 0) return;  // closed since the probe was scheduled: persist's job now
  bool sent = false;
  if ((queue_head_ || fin_queued_) && snd_nxt_ - snd_una_ < kMaxWindow && seq_lt(snd_nxt_, snd_una_ + peer_window_)) {
    TxSegment seg;
    if (next_segment(seg)) {
      const uint32_t seq = snd_nxt_++;
      tx_ring_[seq % kMaxWindow] = seg;
      sent = transmit_segment(seq, now_us);
      if (!sent) tx_ring_[seq % kMaxWindow].lost = true, ++lost_;  // sent later, like a retransmission
      tlp_tsval_ = 0;
    }
  }
  for (uint32_t s = snd_nxt_ - 1; !sent; --s) {
    TxSegment& seg = tx_ring_[s % kMaxWindow];
    if (!seg.sacked) {
      if (!transmit_segment(s, now_us)) break;
      sent = true;
      seg.retransmitted = true;
      if (seg.lost) seg.lost = false, --lost_;
      ++stats_.retransmissions;
      // As header() stamps it: whether the peer echoes this (the probe delivered the
      // segment) or an older one (it was a duplicate) tells a repaired loss from none.
      tlp_tsval_ = stamp(now_us);
    }
    if (s == snd_una_) break;
  }
  if (!sent) return;
  ++stats_.tlp_probes;
  tlp_out_ = true;
  tlp_end_ = snd_nxt_;
  rto_deadline_us_ = now_us + rtt_.rto_us();
  rearm_timer();
}

// The probe's episode ends with the ACK that covers it (RFC 8985 7.4). A retransmitted
// probe that the receiver took as new data (it echoes the probe's timestamp, never a
// duplicate's) repaired a loss: the congestion response a fast recovery would have had.
void Flow::end_loss_probe(const MachnetHeader& h, uint64_t now_us) {
  if (seq_lt(snd_una_, tlp_end_)) return;
  tlp_out_ = false;
  if (tlp_tsval_ != 0 && h.tsecr != 0 && seq_ge(h.tsecr, tlp_tsval_)) {
    ++stats_.tlp_recoveries;
    ++stats_.recoveries;
    cc_.on_loss(now_us, rtt_.srtt_us());
  }
}

void Flow::handle_data(const MachnetHeader& h, const uint8_t* data, uint32_t len, void* handle, bool* kept,
                       uint64_t now_us) {
  const uint64_t held_due = ack_due_us();  // an ACK already held keeps its deadline
  ack_now();
  const int32_t d = seq_diff(h.seq, rcv_nxt_);
  if (d < 0) {
    ++stats_.rx_duplicates;
    return;
  }
  if (static_cast<uint32_t>(d) >= std::min(params_.rx_window, kMaxWindow)) {
    ++stats_.rx_beyond_window;
    return;
  }
  RxSegment& slot = rx_ring_[h.seq % kMaxWindow];
  if (slot.held) {
    ++stats_.rx_duplicates;
    return;
  }
  // Echo the newest timestamp of new data: only now, after the duplicate checks. A
  // duplicate's (a retransmission or window probe of a segment we hold) would make the
  // sender's spurious-timeout test take the late original for a loss, and never undo the
  // cut. Never an older one than we echo already (an out-of-order original arriving after
  // its retransmission). Newer than RFC 7323's in-order-only rule on purpose: under heavy
  // loss that rule echoes stale timestamps, inflates the RTT to tens of milliseconds and
  // stalls recovery.
  if (ts_recent_ == 0 || seq_gt(h.tsval, ts_recent_)) ts_recent_ = h.tsval;
  const RxSegment seg{data, handle, len, h.msg_len, uint8_t(h.flags & (net::kFlagFirst | net::kFlagLast | net::kFlagFin)), true};
  if (d == 0 && !rx_blocked_) {
    const Consumed c = consume(seg);
    if (c == Consumed::kBroken) return reset_for_protocol_error();
    if (c == Consumed::kTaken) {
      ++rcv_nxt_;
      drain_reorder_buffer();
      // A one-packet message, in order, nothing held behind it: its ACK may wait a moment
      // for the reply to carry it (FlowParams::ack_delay_us). Not a longer message's last
      // packet: its pure ACK is one among many, and its reply takes longer to write (an
      // application copying megabytes can keep a daemon that shares its core off the CPU
      // for longer than the sender's RTO, which then fires spuriously).
      constexpr uint8_t kWhole = net::kFlagFirst | net::kFlagLast;
      if (params_.ack_delay_us != 0 && held_ == 0 && !rx_blocked_ && state_ == FlowState::kEstablished &&
          (h.flags & (kWhole | net::kFlagFin)) == kWhole)
        ack_due_us_ = held_due != 0 ? held_due : now_us + params_.ack_delay_us;
      return;
    }
    // No room at the application: keep it in its slot until there is (on_rx_room).
    ++stats_.rx_no_room;
    rx_blocked_ = true;
  } else if (d > 0) {
    ++stats_.rx_out_of_order;
  }
  if (!io_.may_hold()) {
    // Not acknowledged: the sender sends it again. A flow blocked for room stays blocked
    // (on_rx_room reopens it and the retransmission then finds room).
    ++stats_.rx_hold_refused;
    return;
  }
  slot = seg;
  ++held_;
  *kept = true;
}

void Flow::drain_reorder_buffer() {
  while (held_ > 0) {
    RxSegment& slot = rx_ring_[rcv_nxt_ % kMaxWindow];
    if (!slot.held) return;
    const Consumed c = consume(slot);
    if (c == Consumed::kBroken) return reset_for_protocol_error();  // releases the slot too
    if (c == Consumed::kNoRoom) {
      rx_blocked_ = true;
      return;
    }
    io_.release(slot.handle);
    slot = RxSegment{};
    --held_;
    ++rcv_nxt_;
  }
}

void Flow::on_rx_room(uint64_t now_us) {
  if (state_ != FlowState::kEstablished && state_ != FlowState::kClosing) return;
  if (!rx_blocked_) {
    // Not blocked, but we may have advertised a small or closed window: if it grew by a
    // quarter of the reorder buffer (or opened from closed), say so now rather than when
    // the sender's persist timer asks. Smaller steps wait for the next ACK, so a reader
    // giving buffers back a few at a time does not make an ACK each.
    const uint32_t w = advertised_window();
    const uint32_t edge = rcv_nxt_ + w;
    const uint32_t step = std::max(1u, std::min(params_.rx_window, kMaxWindow) / 4);
    if (seq_gt(edge, adv_edge_) && (adv_window_ == 0 || seq_diff(edge, adv_edge_) >= static_cast<int32_t>(step))) {
      ++stats_.window_updates;
      send_ack(now_us);
    }
    return;
  }
  rx_blocked_ = false;
  drain_reorder_buffer();
  if (state_ == FlowState::kClosed) return;  // what waited broke the protocol: reset
  after_peer_fin(now_us);
  if (state_ == FlowState::kTimeWait) return;  // its ACK went out
  ++stats_.window_updates;
  send_ack(now_us);  // the window opened (or we moved on): tell the sender
}

// Takes the next in-order segment: kNoRoom when the application has no room for the
// message it starts (nothing changed then), kBroken when it breaks the message framing (a
// segment without FIRST outside a message, a new FIRST or a FIN inside one, more or fewer
// bytes than msg_len, msg_len over max_message_bytes). Such a segment must not be
// acknowledged: the ACK would tell the sender its message arrived when it was thrown
// away. Nor can it be skipped unacknowledged: the sender would retransmit it until
// give_up_ms, the flow wedged behind it. The peer is broken or hostile, so the flow is
// reset (reset_for_protocol_error): both applications hear that the flow failed.
Flow::Consumed Flow::consume(const RxSegment& seg) {
  if (seg.flags & net::kFlagFin) {
    if (in_message_) return Consumed::kBroken;  // the message was cut short
    peer_fin_ = true;
    return Consumed::kTaken;
  }
  if (seg.flags & net::kFlagFirst) {
    if (in_message_) return Consumed::kBroken;  // the previous message never ended
    if (seg.msg_len > params_.max_message_bytes || seg.len > seg.msg_len) return Consumed::kBroken;
    if (!io_.rx_begin(seg.msg_len)) return Consumed::kNoRoom;
    in_message_ = true;
    message_left_ = message_len_ = seg.msg_len;
  } else if (!in_message_) {
    return Consumed::kBroken;
  }
  if (seg.len > message_left_) return Consumed::kBroken;
  if ((seg.flags & net::kFlagLast) && seg.len != message_left_) return Consumed::kBroken;
  if (seg.len) io_.rx_append(seg.data, seg.len);
  message_left_ -= seg.len;
  if (seg.flags & net::kFlagLast) {
    in_message_ = false;
    io_.rx_end();
    last_msg_us_ = last_rx_us_;  // (the time of the packet that came, or of the latest before a wait for room)
    ++stats_.rx_msgs;
    stats_.rx_bytes += message_len_;
  }
  return Consumed::kTaken;
}

// The peer sent what no correct sender sends. Reset, telling the peer (its application
// hears ECONNRESET, and learns that what it sent last did not arrive) and ours (ECONNRESET
// too; `machnetctl flows` names the reason). The message being reassembled is discarded
// (release_all), the segment that broke the protocol is never acknowledged.
void Flow::reset_for_protocol_error() {
  ++stats_.protocol_errors;
  ack_pending_ = false;
  abort(FlowError::kProtocolError, true);
}

// ---------------------------------------------------------------------------------------
// Timers.

void Flow::arm_timer(uint64_t deadline_us) { wheel_.arm(timer_, deadline_us); }

// The retransmission, reorder and probe deadlines share the flow's timer: armed at the
// earliest. With none, the timer is left as it is (keepalive owns it then).
void Flow::rearm_timer() {
  uint64_t at = rto_deadline_us_;
  if (reo_deadline_us_ != 0 && (at == 0 || reo_deadline_us_ < at)) at = reo_deadline_us_;
  if (pto_deadline_us_ != 0 && (at == 0 || pto_deadline_us_ < at)) at = pto_deadline_us_;
  if (at != 0) arm_timer(at);
}

void Flow::on_timer(uint64_t now_us) {
  if (state_ == FlowState::kSynSent) {
    if (now_us >= connect_deadline_us_) {
      send_control(net::kFlagRst, now_us);  // a SYN may have arrived: no half-open flow there
      return finish(FlowError::kConnectTimeout);
    }
    syn_interval_us_ = std::min<uint64_t>(uint64_t{syn_interval_us_} * 2, params_.rto_max_us);
    syn_tsval_ = stamp(now_us);
    send_control(net::kFlagSyn, now_us);
    arm_timer(std::min(now_us + syn_interval_us_, connect_deadline_us_));
    return;
  }
  if (state_ == FlowState::kTimeWait) {
    if (now_us >= time_wait_until_us_) return finish(orderly_end());
    return arm_timer(time_wait_until_us_);
  }
  if (state_ == FlowState::kClosed) return;
  // The timer is free for keepalive while nothing is in flight.
  if (rto_deadline_us_ == 0 && reo_deadline_us_ == 0 && pto_deadline_us_ == 0) return keepalive(now_us);
  // Reorder timer first (it may find the loss the probe would ask about), then the probe
  // (it restarts the RTO), then the RTO. The owner pumps what they marked lost.
  if (reo_deadline_us_ != 0 && now_us >= reo_deadline_us_) detect_losses(now_us, true);
  if (pto_deadline_us_ != 0 && now_us >= pto_deadline_us_) send_loss_probe(now_us);
  if (rto_deadline_us_ != 0 && now_us >= rto_deadline_us_) on_retransmit_timeout(now_us);
  if (state_ == FlowState::kClosed) return;
  rearm_timer();
  if (!timer_.armed()) keepalive(now_us);  // nothing left in flight
}

// Keepalive and the idle timeout (the RTO owns the timer while anything is in flight):
// after keepalive_us of silence from the peer, an empty message with an already
// acknowledged sequence number (seq = snd_una - 1, taken as a duplicate) makes the peer's
// flow answer with an ACK; asked again every second, and the flow is reset after
// give_up_us of that. After idle_timeout_us without a message either way, the flow is
// reset whether its peer answers or not.
void Flow::keepalive(uint64_t now_us) {
  // Closing too: after our FIN was acknowledged we wait for the peer's, and a peer that
  // vanished meanwhile must not leave the flow half-open for ever.
  if (state_ != FlowState::kEstablished && state_ != FlowState::kClosing) return;
  uint64_t idle_at = UINT64_MAX;
  if (params_.idle_timeout_us != 0 && state_ == FlowState::kEstablished && queued_ == 0) {
    idle_at = last_msg_us_ + params_.idle_timeout_us;
    if (now_us >= idle_at) return abort(FlowError::kIdleTimeout, true);
  }
  if (params_.keepalive_us == 0) {
    if (idle_at != UINT64_MAX) arm_timer(idle_at);
    return;
  }
  const uint64_t quiet = now_us - last_rx_us_;
  if (quiet < params_.keepalive_us) return arm_timer(std::min(idle_at, last_rx_us_ + params_.keepalive_us));
  if (quiet >= params_.keepalive_us + params_.give_up_us) return abort(FlowError::kRetransmitLimit, true);
  MachnetHeader h = header(net::kFlagData | net::kFlagFirst | net::kFlagLast, snd_una_ - 1, now_us);
  if (io_.transmit(h, nullptr, 0, 0)) ++stats_.tx_packets, ++stats_.keepalive_probes;
  arm_timer(std::min(idle_at, now_us + std::min<uint64_t>(params_.keepalive_us, 1'000'000)));
}

void Flow::on_retransmit_timeout(uint64_t now_us) {
  rto_deadline_us_ = reo_deadline_us_ = pto_deadline_us_ = 0;
  tlp_out_ = false;
  if (peer_window_ == 0 && snd_nxt_ != snd_una_) {
    // A closed window is flow control, not loss: the receiver holds what it acknowledged
    // no further until its application reads. Persist: probe, keep the congestion window.
    return send_window_probe(now_us);
  }
  if (snd_nxt_ == snd_una_) {
    if ((queue_head_ || fin_queued_) && peer_window_ == 0) {
      // Zero-window probe: the window update may have been lost.
      probe_ = true;
      rtt_.back_off();
      pump(now_us);
    }
    return;
  }
  ++stats_.rto_timeouts;
  if (++timeouts_in_row_ == 1) give_up_at_us_ = now_us + params_.give_up_us;
  else if (now_us >= give_up_at_us_) return abort(FlowError::kRetransmitLimit, true);
  const uint32_t waited = rtt_.rto_us();
  if (timeouts_in_row_ == 1) {
    undo_tsval_ = static_cast<uint32_t>(now_us);  // as header() stamps it: never 0
    if (undo_tsval_ == 0) undo_tsval_ = 1;
    undo_una_ = snd_una_;  // judged by the ACK that moves past the segment that timed out
    undo_cwnd_ = cc_.exact_window();
  }
  rtt_.back_off();
  cc_.on_timeout();
  // The timeout's cut stands for the losses of what is outstanding now: RACK finding
  // them one by one afterwards must not cut again.
  in_recovery_ = true;
  recovery_point_ = snd_nxt_;
  // Everything outstanding for a whole timeout is presumed lost; pump() resends it within
  // the (now small) congestion window, oldest first.
  for (uint32_t s = snd_una_; s != snd_nxt_; ++s) {
    TxSegment& seg = tx_ring_[s % kMaxWindow];
    if (seg.sacked || seg.lost) continue;
    if (s != snd_una_ && now_us - seg.sent_us < waited) continue;
    seg.lost = true;
    ++lost_;
  }
  if (peer_window_ == 0) probe_ = true;
  pump(now_us);
  if (rto_deadline_us_ == 0 && snd_nxt_ != snd_una_) {
    rto_deadline_us_ = now_us + rtt_.rto_us();
    rearm_timer();
  }
}

// Persist (RFC 9293 3.8.6.1, in packets): resend the oldest segment the peer has not
// reported; the receiver answers even a duplicate with an ACK carrying its current window,
// so a lost window update costs one probe interval, not the flow. Probes back off like
// timeouts and count toward give_up_ms (a peer that stops answering them is gone; any ACK
// starts the count again), but neither the congestion window nor the loss marks change.
void Flow::send_window_probe(uint64_t now_us) {
  if (++timeouts_in_row_ == 1) give_up_at_us_ = now_us + params_.give_up_us;
  else if (now_us >= give_up_at_us_) return abort(FlowError::kRetransmitLimit, true);
  rtt_.back_off();
  for (uint32_t s = snd_una_; s != snd_nxt_; ++s) {
    TxSegment& seg = tx_ring_[s % kMaxWindow];
    if (seg.sacked) continue;
    if (transmit_segment(s, now_us)) {
      seg.retransmitted = true;
      ++stats_.window_probes;
      if (seg.lost) seg.lost = false, --lost_;
    }
    break;
  }
  rto_deadline_us_ = now_us + rtt_.rto_us();
  rearm_timer();
}

}  // namespace machnet::transport
