// One Machnet flow: the handshake, segmentation and reassembly of messages, reliable
// in-order delivery (cumulative ACK + SACK bitmap; RACK-TLP loss detection, RFC 8985: a
// time-based reorder window with its timer and a tail-loss probe; a retransmission timeout
// from the echoed-timestamp RTT with exponential backoff as the last resort), congestion
// control (congestion_control.h) and flow control (the receiver's advertised window).
// docs/wire-protocol.md describes the protocol this implements.
//
// Pure logic: packets leave and bytes arrive through FlowIo, time is the caller's
// microsecond clock, timers live on the caller's TimerWheel. Single-threaded.
#pragma once

#include <array>
#include <cstdint>

#include "transport/congestion_control.h"
#include "transport/flow_io.h"
#include "transport/rack.h"
#include "transport/rtt_estimator.h"
#include "transport/timer_wheel.h"

namespace machnet::transport {

// Packets in flight and in the reorder buffer are both bounded by what the SACK bitmap can
// describe, so loss recovery never works blind.
inline constexpr uint32_t kMaxWindow = net::kSackBits;

struct FlowParams {
  uint32_t mss = 1424;  // payload bytes per packet
  CcParams cc;
  uint32_t rto_min_us = 1000;
  uint32_t rto_max_us = 200000;
  uint32_t initial_rto_us = 10000;  // before the first RTT sample (and for SYNs)
  // Tail-loss probe: this long at least after the last new data, if no ACK came, one
  // segment is sent again (or a new one) to make the receiver's ACK show what is missing.
  // PTO = max(2 SRTT, tlp_min_us), never later than the RTO. The floor keeps a tiny SRTT
  // from probing faster than the engine's timer wheel (32 us ticks) or a peer's poll loop.
  uint32_t tlp_min_us = 50;
  // The pure ACK of a segment that completed a message may wait this long for data of our
  // own to carry it (the application's reply, in request-reply): one packet per message
  // each way instead of two. Anything else is acknowledged at once: a message's other
  // segments, a gap, a duplicate, a FIN. 0: never wait. Well under tlp_min_us, so the
  // peer's loss probe does not fire for an ACK we hold.
  uint32_t ack_delay_us = 0;
  // Retransmitting this long with no ACK resets the flow. A duration, not a count of
  // timeouts: with the RTO capped at rto_max_us, a count gave up after ~1 s of silence,
  // shorter than a VM pause.
  uint64_t give_up_us = 30'000'000;
  // An established flow that heard nothing from its peer for this long asks for an ACK,
  // and is reset when give_up_us more pass without an answer: a peer that vanished while
  // the flow was idle (half-open) is noticed. 0: never.
  uint64_t keepalive_us = 15'000'000;
  // An established flow that carried no message either way (none delivered to the
  // application, none of its own acknowledged) for this long is reset, both applications
  // told. 0: never (a flow whose peer answers keepalives lives as long as its owners).
  uint64_t idle_timeout_us = 0;
  uint32_t connect_timeout_us = 2'000'000;
  uint32_t rx_window = kMaxWindow;  // reorder buffer, packets
  uint32_t max_message_bytes = 8u << 20;  // a longer message from the peer is dropped
  // How long a flow whose both directions ended keeps answering a retransmitted FIN with
  // an ACK. 0: twice rto_max_us, which covers the peer's next retransmission even when our
  // final ACK and the first answer to it are both lost.
  uint64_t time_wait_us = 0;
};

// kClosing: our direction is ending (close(), or the peer's FIN arrived): what is queued
// goes, then our FIN; we still receive until the peer's FIN. kTimeWait: both directions
// ended; the flow only re-acknowledges a retransmitted FIN (our last ACK was lost) until
// time_wait_us passes, then reports the close.
enum class FlowState : uint8_t { kSynSent, kEstablished, kClosing, kTimeWait, kClosed };
const char* to_string(FlowState s);

struct FlowStats {
  uint64_t tx_msgs = 0, tx_bytes = 0, rx_msgs = 0, rx_bytes = 0;
  uint64_t tx_packets = 0, rx_packets = 0;
  uint64_t retransmissions = 0, rto_timeouts = 0;
  uint64_t fast_retransmits = 0;      // segments RACK found lost on an ACK
  uint64_t rack_timer_losses = 0;     // ... found lost when its reorder timer fired
  uint64_t tlp_probes = 0;            // tail-loss probes sent
  uint64_t tlp_recoveries = 0;        // probes that repaired a loss (the receiver lacked it)
  uint64_t spurious_retransmits = 0;  // acknowledged too soon to be the retransmission's ACK
  uint64_t recoveries = 0;            // loss recovery episodes (one window cut each)
  uint64_t rx_duplicates = 0, rx_out_of_order = 0, rx_beyond_window = 0, rx_no_room = 0;
  // Packets that broke the protocol. A bad ACK is dropped and the flow goes on; a data
  // segment that breaks message framing resets the flow (Flow::consume says why).
  uint64_t protocol_errors = 0;
  uint64_t rx_hold_refused = 0;  // packets not kept: the owner had no buffer to spare (may_hold)
  uint64_t window_probes = 0;     // segments sent only to learn whether a closed window reopened
  uint64_t window_updates = 0;    // ACKs sent only because the receiving application made room
  uint64_t keepalive_probes = 0;  // idle-flow probes ([transport] keepalive_ms)
  uint64_t spurious_timeouts = 0;  // timeouts undone: the ACK echoed a timestamp from before
};

class Flow {
 public:
  Flow(const FlowParams& params, FlowIo& io, TimerWheel& wheel, uint32_t conn_id, uint32_t isn);
  ~Flow();
  Flow(const Flow&) = delete;
  Flow& operator=(const Flow&) = delete;

  // Client side: sends the SYN and waits for the SYN-ACK (on_established) or gives up
  // (on_closed with kConnectTimeout or kRefused).
  void connect(uint64_t now_us);
  // Server side: takes the peer's SYN, answers with a SYN-ACK; established at once.
  void accept(const net::MachnetHeader& syn, uint64_t now_us);

  // Queues a message. Sent as the windows allow, in order.
  void send(TxMessage* msg);

  // A packet for this flow. `data`/`len` is its payload; `handle` identifies the packet
  // buffer. Returns true when the flow keeps the buffer (an out-of-order segment) and will
  // hand it back through FlowIo::release.
  bool receive(const net::MachnetHeader& h, const uint8_t* data, uint32_t len, void* handle, uint64_t now_us);

  // Transmits what the windows allow (retransmissions first) and any pending ACK.
  void pump(uint64_t now_us);
  // Whether pump() has something to do.
  bool wants_pump() const;

  // The flow's timer fired (the owner's TimerWheel calls back with timer().owner == this).
  void on_timer(uint64_t now_us);

  // A SYN with another conn_id arrived on our ports: acknowledge what we have (RFC 5961's
  // challenge ACK) with the next pump. Established and closing flows only.
  void challenge_ack() {
    if (state_ == FlowState::kEstablished || state_ == FlowState::kClosing) ack_now();
  }
  // When the pure ACK we hold back (FlowParams::ack_delay_us) is due; 0 when none is held.
  // wants_pump() does not count a held ACK: the owner pumps the flow again by then.
  uint64_t ack_due_us() const { return ack_pending_ ? ack_due_us_ : 0; }

  // The receiving application made room: deliver what waited and, when the window we
  // advertise grew enough to matter (or was closed), tell the peer at once. The owner calls
  // it for every flow it saw held back (FlowIo::rx_room_packets reported little room).
  void on_rx_room(uint64_t now_us);
  bool rx_blocked() const { return rx_blocked_; }

  // Orderly close of our direction: everything queued is delivered, then a FIN. We keep
  // receiving until the peer's FIN (which it sends after what it had queued); when both
  // FINs are acknowledged the flow waits in kTimeWait, then on_closed(kLocalClose).
  // A FIN from the peer closes our direction the same way (on_closed(kPeerClosed)).
  void close(uint64_t now_us);
  // Abort: drops everything, tells the peer with a reset (unless `tell_peer` is false).
  void abort(FlowError why, bool tell_peer);

  // Calls fn(TxMessage*) once for every message the flow still holds (in flight or queued).
  template <typename Fn>
  void for_each_message(Fn&& fn) {
    const TxMessage* last = nullptr;
    for (uint32_t s = snd_una_; s != snd_nxt_; ++s) {
      TxMessage* m = tx_ring_[s % kMaxWindow].msg;
      if (m && m != last) fn(m), last = m;
    }
    for (TxMessage* m = queue_head_; m; m = m->next)
      if (m != last) fn(m);
  }

  // The owner's pointer, for callbacks that only have the flow (its timer).
  void set_user(void* user) { user_ = user; }
  void* user() const { return user_; }

  FlowState state() const { return state_; }
  FlowError error() const { return error_; }
  uint32_t conn_id() const { return conn_id_; }
  const FlowStats& stats() const { return stats_; }
  const RttEstimator& rtt() const { return rtt_; }
  uint32_t cwnd() const { return cc_.window(); }
  uint32_t peer_window() const { return peer_window_; }
  // The window we advertised last (packets from our cumulative ACK).
  uint32_t advertised() const { return adv_window_; }
  uint32_t inflight() const { return snd_nxt_ - snd_una_; }
  uint32_t snd_una() const { return snd_una_; }
  uint32_t rcv_nxt() const { return rcv_nxt_; }
  uint32_t queued_messages() const { return queued_; }
  bool fin_pending() const { return fin_queued_; }  // close() was called and the FIN is not sent yet

 private:
  struct TxSegment {
    TxMessage* msg = nullptr;  // null for a FIN
    uint32_t offset = 0, len = 0;
    uint64_t sent_us = 0;  // latest transmission (the burst's clock)
    uint32_t order = 0;    // latest transmission's place in the flow's sending order
    uint8_t flags = 0;  // kFlagFirst/kFlagLast/kFlagFin
    bool sacked = false;
    bool lost = false;  // to be retransmitted
    bool retransmitted = false;
  };
  struct RxSegment {
    const uint8_t* data = nullptr;
    void* handle = nullptr;
    uint32_t len = 0, msg_len = 0;
    uint8_t flags = 0;
    bool held = false;
  };

  static uint32_t stamp(uint64_t now_us);
  net::MachnetHeader header(uint8_t flags, uint32_t seq, uint64_t now_us);
  bool transmit_segment(uint32_t seq, uint64_t now_us);
  bool next_segment(TxSegment& seg);
  void process_ack(const net::MachnetHeader& h, uint64_t now_us);
  void on_delivered(const TxSegment& seg, uint64_t now_us);
  void detect_losses(uint64_t now_us, bool from_timer);
  void enter_recovery(uint64_t now_us);
  void schedule_loss_probe(uint64_t now_us);
  void send_loss_probe(uint64_t now_us);
  void end_loss_probe(const net::MachnetHeader& h, uint64_t now_us);
  void rearm_timer();
  enum class Consumed : uint8_t { kTaken, kNoRoom, kBroken };
  Consumed consume(const RxSegment& seg);
  void reset_for_protocol_error();
  void drain_reorder_buffer();
  void handle_data(const net::MachnetHeader& h, const uint8_t* data, uint32_t len, void* handle, bool* kept,
                   uint64_t now_us);
  uint16_t advertised_window();
  void send_ack(uint64_t now_us);
  void send_control(uint8_t flags, uint64_t now_us);
  void arm_timer(uint64_t deadline_us);
  uint32_t pipe() const { return snd_nxt_ - snd_una_ - sacked_ - lost_; }  // packets thought in the network
  bool can_send_new() const;
  void on_retransmit_timeout(uint64_t now_us);
  void send_window_probe(uint64_t now_us);
  void take_peer_window(const net::MachnetHeader& h, bool advanced);
  void keepalive(uint64_t now_us);
  void finish(FlowError why);
  void release_all();
  void after_peer_fin(uint64_t now_us);
  void enter_time_wait(uint64_t now_us);
  uint64_t time_wait_us() const { return params_.time_wait_us ? params_.time_wait_us : 2 * uint64_t{params_.rto_max_us}; }
  FlowError orderly_end() const { return closed_here_ ? FlowError::kLocalClose : FlowError::kPeerClosed; }

  const FlowParams params_;
  FlowIo& io_;
  TimerWheel& wheel_;
  TimerWheel::Timer timer_;
  const uint32_t conn_id_;
  void* user_ = nullptr;
  FlowState state_ = FlowState::kSynSent;
  FlowError error_ = FlowError::kNone;
  FlowStats stats_;
  CongestionControl cc_;
  RttEstimator rtt_;

  // Sender.
  const uint32_t isn_;
  uint32_t snd_una_, snd_nxt_;  // oldest unacknowledged; next new sequence number
  uint32_t sacked_ = 0;         // segments in flight the peer reported received
  uint32_t lost_ = 0;           // segments in flight marked for retransmission
  bool probe_ = false;          // the peer's window is closed: send one segment anyway
  uint32_t peer_window_ = 1;    // packets from snd_una_ the peer can take
  uint32_t peer_window_ts_ = 0; // the peer's tsval on the ACK peer_window_ came from
  uint32_t timeouts_in_row_ = 0;
  uint64_t give_up_at_us_ = 0;  // set at the first timeout of a run
  uint64_t last_rx_us_ = 0;     // the peer's latest packet, for keepalive
  uint64_t last_msg_us_ = 0;    // the latest message delivered or acknowledged, for idle_timeout_us
  std::array<TxSegment, kMaxWindow> tx_ring_{};  // index: seq % kMaxWindow
  TxMessage* queue_head_ = nullptr;  // queued, not yet wholly segmented
  TxMessage* queue_tail_ = nullptr;
  uint32_t queue_offset_ = 0;        // bytes of queue_head_ already segmented
  uint32_t queued_ = 0;
  bool fin_queued_ = false;          // close(): a FIN follows the queued messages
  uint64_t rto_deadline_us_ = 0;     // 0: no retransmission timer
  // Loss detection and recovery (RACK-TLP). The three deadlines share the flow's one
  // wheel timer, armed at the earliest.
  Rack rack_;
  uint32_t tx_order_ = 0;          // transmissions so far (TxSegment::order)
  uint64_t reo_deadline_us_ = 0;   // 0: no reorder timer
  uint64_t pto_deadline_us_ = 0;   // 0: no tail-loss probe timer
  bool tlp_out_ = false;           // a probe is outstanding: no second one until an ACK
  uint32_t tlp_end_ = 0;           // snd_nxt_ after the probe
  uint32_t tlp_tsval_ = 0;         // the probe's tsval if it was a retransmission, else 0
  bool in_recovery_ = false;       // the window was cut for losses below recovery_point_
  uint32_t recovery_point_ = 0;
  uint64_t connect_deadline_us_ = 0;
  uint32_t syn_interval_us_ = 0;
  uint32_t syn_tsval_ = 0;  // the latest SYN's tsval: the SYN-ACK's RTT sample must echo it
  uint32_t undo_tsval_ = 0;   // our clock at the first timeout of a run (0: none to judge)
  double undo_cwnd_ = 0;      // the window before it
  uint32_t undo_una_ = 0;     // snd_una_ then

  // Receiver.
  uint32_t rcv_nxt_ = 0;
  std::array<RxSegment, kMaxWindow> rx_ring_{};  // out-of-order segments, index seq % kMaxWindow
  uint32_t held_ = 0;
  bool in_message_ = false;
  uint32_t message_left_ = 0;
  uint32_t message_len_ = 0;
  uint32_t ts_recent_ = 0;  // the peer's tsval to echo
  bool ack_pending_ = false;
  uint64_t ack_due_us_ = 0;  // with ack_pending_: held until then (0: send with the next pump)
  void ack_now() {
    ack_pending_ = true;
    ack_due_us_ = 0;
  }
  bool rx_blocked_ = false;  // a message waits for room at the receiver
  uint32_t adv_window_ = 0;  // the window we advertised last ...
  uint32_t adv_edge_ = 0;    // ... and its right edge (rcv_nxt_ then + adv_window_)
  bool peer_fin_ = false;    // the peer's FIN was consumed: its direction is over
  bool fin_acked_ = false;   // our FIN was acknowledged: our direction is over
  bool peer_fin_handled_ = false;  // after_peer_fin() ran
  bool closed_here_ = false; // close() came before the peer's FIN (kLocalClose, not kPeerClosed)
  uint64_t time_wait_until_us_ = 0;
};

}  // namespace machnet::transport
