#include "transport/testing/many_flow_wire.h"

#include <algorithm>

namespace machnet::transport::sim {
namespace {
// What a receiving flow "reads": packets carry lengths only (many_flow_wire.h).
const uint8_t kZeros[9000] = {};
}  // namespace

FlowEnd::FlowEnd(ManyFlowWire& wire, uint32_t i, bool is_sender)
    : index(i), sender(is_sender), wire_(wire), msgs_(is_sender ? wire.config.messages_queued : 0) {
  for (TxMessage& m : msgs_) free_.push_back(&m);
}

bool FlowEnd::transmit(const net::MachnetHeader& h, const TxMessage*, uint32_t, uint32_t len) {
  wire_.send(*this, h, len);
  return true;
}

void FlowEnd::tx_done(TxMessage* msg) { free_.push_back(msg); }

bool FlowEnd::rx_begin(uint32_t msg_len) {
  if (msg_len != wire_.config.message_bytes) ++errors;
  return true;
}

void FlowEnd::run_app() {
  if (!sending || !flow || flow->state() != FlowState::kEstablished) return;
  while (!free_.empty()) {
    TxMessage* m = free_.back();
    free_.pop_back();
    *m = TxMessage{wire_.config.message_bytes, nullptr, nullptr};
    flow->send(m);
  }
}

// ---------------------------------------------------------------------------------------

ManyFlowWire::ManyFlowWire(const FlowParams& p, const ManyFlowConfig& c, uint64_t seed)
    : params(p), config(c), wheel(now_us), bottleneck(c.bottleneck_bytes_per_us, c.queue_packets), rng_(seed) {
  for (uint32_t i = 0; i < c.flows; ++i) {
    senders.push_back(std::make_unique<FlowEnd>(*this, i, true));
    receivers.push_back(std::make_unique<FlowEnd>(*this, i, false));
  }
}

void ManyFlowWire::start(uint32_t i) {
  FlowEnd& s = *senders[i];
  s.flow = std::make_unique<Flow>(params, s, wheel, i + 1, static_cast<uint32_t>(rng_()));
  s.flow->set_user(&s);
  s.sending = true;
  s.flow->connect(now_us);
}

void ManyFlowWire::stop(uint32_t i) {
  FlowEnd& s = *senders[i];
  s.sending = false;
  if (s.flow) s.flow->abort(FlowError::kLocalAbort, true);
}

// Sender to receiver: into the bottleneck (or dropped there), then the propagation delay.
// Receiver to sender: the propagation delay only.
void ManyFlowWire::send(const FlowEnd& from, const net::MachnetHeader& h, uint32_t len) {
  Packet p;
  p.h = h;
  p.len = len;
  p.flow = from.index;
  p.to_receiver = from.sender;
  if (from.sender) {
    const auto departs = bottleneck.enqueue(now_us, len + config.wire_overhead);
    if (!departs) {
      ++lost_at_bottleneck;
      return;
    }
    p.at_us = *departs + config.delay_us;
  } else {
    p.at_us = now_us + config.delay_us;
  }
  p.order = order_++;
  queue_.push(p);
}

void ManyFlowWire::deliver(const Packet& p) {
  FlowEnd& to = p.to_receiver ? *receivers[p.flow] : *senders[p.flow];
  if (!to.flow) {
    if (!p.to_receiver || !(p.h.flags & net::kFlagSyn)) return;
    to.flow = std::make_unique<Flow>(params, to, wheel, p.h.conn_id, static_cast<uint32_t>(rng_()));
    to.flow->set_user(&to);
    to.flow->accept(p.h, now_us);
    return;
  }
  if (to.flow->state() == FlowState::kClosed) return;
  to.flow->receive(p.h, kZeros, p.len, nullptr, now_us);
  to.run_app();
  to.flow->pump(now_us);
}

void ManyFlowWire::step(uint64_t us) {
  const uint64_t until = now_us + us;
  for (;;) {
    while (!queue_.empty() && queue_.top().at_us <= now_us) {
      const Packet p = queue_.top();
      queue_.pop();
      deliver(p);
    }
    wheel.advance(now_us, [&](TimerWheel::Timer& t) {
      Flow& f = *static_cast<Flow*>(t.owner);
      f.on_timer(now_us);
      static_cast<FlowEnd*>(f.user())->run_app();
      f.pump(now_us);  // what the timer marked lost goes out now, as the engine does
    });
    if (now_us >= until) return;
    // The next packet, or the wheel's next tick (timers), whichever comes first.
    uint64_t next = now_us + TimerWheel::kTickUs;
    if (!queue_.empty()) next = std::min(next, queue_.top().at_us);
    now_us = std::min(std::max(next, now_us + 1), until);
  }
}

}  // namespace machnet::transport::sim
