#include "transport/testing/sim_wire.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace machnet::transport::sim {

void fill_message(uint64_t seed, uint32_t index, uint8_t* out, uint32_t len) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL ^ (uint64_t{index} + 1) * 0xc2b2ae3d27d4eb4fULL;
  for (uint32_t i = 0; i < len; i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(out + i, &x, std::min(8u, len - i));
  }
  if (len >= 4) std::memcpy(out, &index, 4);
}

uint64_t checksum(const Packet& p) {
  uint64_t sum = p.h.seq * 31ULL + p.h.ack * 17ULL + p.h.flags + p.h.msg_len * 7ULL + p.h.sack[0] + p.h.sack[1];
  for (uint8_t b : p.payload) sum = sum * 131 + b;
  return sum;
}

// ---------------------------------------------------------------------------------------

Endpoint::Endpoint(SimWire& wire, int i, uint64_t s) : index(i), seed(s), wire_(wire) {}

Endpoint::~Endpoint() { flow.reset(); }

uint64_t Endpoint::now() const { return wire_.now_us; }

bool Endpoint::transmit(const net::MachnetHeader& h, const TxMessage* msg, uint32_t offset, uint32_t len) {
  Packet p;
  p.h = h;
  last_sent = h;
  if (msg) {
    const auto* bytes = static_cast<const std::vector<uint8_t>*>(msg->cookie);
    p.payload.assign(bytes->begin() + offset, bytes->begin() + offset + len);
  }
  wire_.send(index, std::move(p));
  return true;
}

void Endpoint::tx_done(TxMessage* msg) {
  delete static_cast<std::vector<uint8_t>*>(msg->cookie);
  delete msg;
  --unacked_msgs;
}

// Like the engine, the whole message's room is reserved when its first segment arrives
// (so a message is never left half-received for want of buffers).
bool Endpoint::rx_begin(uint32_t msg_len) {
  if (used_bytes > 0 && used_bytes + msg_len > room_bytes) return false;
  used_bytes += msg_len;
  rx_open = true;
  rx_len = msg_len;
  rx_off = 0;
  const uint32_t want = next_expected < wire_.end[1 - index]->plan.size() ? wire_.end[1 - index]->plan[next_expected] : 0;
  if (msg_len != want) ++errors;
  rx_expect.resize(msg_len);
  fill_message(wire_.end[1 - index]->seed, next_expected, rx_expect.data(), msg_len);
  return true;
}

void Endpoint::rx_append(const uint8_t* data, uint32_t len) {
  if (!rx_open || rx_off + len > rx_len || std::memcmp(rx_expect.data() + rx_off, data, len) != 0) ++errors;
  rx_off += len;
}

void Endpoint::rx_end() {
  if (!rx_open || rx_off != rx_len) ++errors;
  if (wire_.work.rpc && index == 0 && next_expected < sent_at.size()) rpc_us.push_back(now() - sent_at[next_expected]);
  rx_open = false;
  ++next_expected;
  last_rx_at_us = now();
  unread.push_back(rx_len);
}

void Endpoint::rx_discard() {
  if (rx_open) used_bytes -= rx_len;
  rx_open = false;
  ++errors;  // nothing in these tests should ever be discarded
}

// Room for messages not begun yet (the flow adds what the open message reserved).
uint32_t Endpoint::rx_room_packets() {
  const uint64_t free = used_bytes >= room_bytes ? 0 : room_bytes - used_bytes;
  return static_cast<uint32_t>(std::min<uint64_t>(free / wire_.params.mss, 1u << 20));
}

void Endpoint::release(void* handle) { delete static_cast<Packet*>(handle); }

void Endpoint::run_app() {
  if (!flow || flow->state() != FlowState::kEstablished) return;
  while (next_to_send < plan.size() && unacked_msgs < wire_.work.in_flight) {
    if (wire_.work.rpc && next_to_send >= next_expected + (index == 0 ? 1 : 0)) break;
    if (wire_.work.rpc && index == 1 && now() < last_rx_at_us + wire_.work.reply_after_us) break;
    const uint32_t len = plan[next_to_send];
    sent_at.push_back(now());
    auto* bytes = new std::vector<uint8_t>(len);
    fill_message(seed, next_to_send, bytes->data(), len);
    auto* m = new TxMessage{len, bytes, nullptr};
    flow->send(m);
    ++unacked_msgs;
    ++next_to_send;
  }
  if (!paused && !unread.empty()) {
    for (uint32_t len : unread) used_bytes -= len;
    unread.clear();
    // As the engine does for every flow it saw held back: room came back, tell the flow.
    flow->on_rx_room(now());
  }
}

// ---------------------------------------------------------------------------------------

SimWire::SimWire(const FlowParams& p, const Impairments& i, const Workload& w, uint64_t seed)
    : imp(i), work(w), params(p), wheel(now_us), rng(seed) {
  for (int e = 0; e < 2; ++e) {
    end[e] = std::make_unique<Endpoint>(*this, e, seed * 2 + e + 1);
    std::mt19937_64 sizes(seed * 7 + e);
    std::uniform_real_distribution<double> u(0.0, std::log(double(w.max_size)));
    auto& plan = end[e]->plan;
    for (uint32_t k = 0; k < w.messages; ++k) plan.push_back(static_cast<uint32_t>(std::exp(u(sizes))));
    if (w.messages >= 2) plan[0] = 1, plan[1] = w.max_size;
    for (uint32_t b = 0; b < w.big_messages; ++b)
      plan.insert(plan.begin() + (plan.size() * (b + 1)) / (w.big_messages + 1), w.big_size);
  }
  end[0]->flow = std::make_unique<Flow>(params, *end[0], wheel, 0x1234, static_cast<uint32_t>(rng()));
  end[0]->flow->connect(now_us);
}

void SimWire::send(int from, Packet p) {
  ++sent;
  std::uniform_real_distribution<double> u(0, 1);
  if (link_down || u(rng) < imp.loss || (drop_if && drop_if(from, p))) {
    ++lost;
    return;
  }
  p.to = 1 - from;
  p.checksum = checksum(p);
  // Serialisation at the bottleneck, then propagation.
  uint64_t depart = now_us;
  if (imp.bytes_per_us > 0 && imp.queue_packets > 0) {
    if (!bottleneck_[from]) bottleneck_[from] = std::make_unique<DropTailQueue>(imp.bytes_per_us, imp.queue_packets);
    const auto leaves = bottleneck_[from]->enqueue(now_us, static_cast<uint32_t>(p.payload.size() + 90));
    if (!leaves) {
      ++lost, ++queue_drops;
      return;
    }
    depart = *leaves;
  } else if (imp.bytes_per_us > 0) {
    depart = std::max(now_us, link_free_at_[from]) + static_cast<uint64_t>((p.payload.size() + 90) / imp.bytes_per_us);
    link_free_at_[from] = depart;
  }
  p.at_us = depart + imp.delay_us;
  if (u(rng) < imp.reorder) {
    p.at_us += imp.reorder_extra_us;
    ++reordered;
  }
  if (u(rng) < imp.corrupt && !p.payload.empty()) {
    p.payload[rng() % p.payload.size()] ^= 0x5a;  // caught by the checksum at the receiver
    ++corrupted;
  }
  const bool dup = u(rng) < imp.duplicate;
  if (dup) {
    ++duplicated;
    auto copy = std::make_unique<Packet>(p);
    copy->order = order_++;
    copy->at_us += 1 + rng() % 20;
    queue_.push(std::move(copy));
  }
  p.order = order_++;
  queue_.push(std::make_unique<Packet>(std::move(p)));
}

void SimWire::deliver_due() {
  while (!queue_.empty() && queue_.top()->at_us <= now_us) {
    // priority_queue::top is const; the packet is moved out through a const_cast, which is
    // safe because it is popped at once.
    std::unique_ptr<Packet> p = std::move(const_cast<std::unique_ptr<Packet>&>(queue_.top()));
    queue_.pop();
    if (checksum(*p) != p->checksum) {
      ++bad_checksum;
      continue;
    }
    Endpoint& to = *end[p->to];
    if (!to.flow) {
      if (!(p->h.flags & net::kFlagSyn)) continue;
      to.flow = std::make_unique<Flow>(params, to, wheel, p->h.conn_id, static_cast<uint32_t>(rng()));
      to.flow->accept(p->h, now_us);
      continue;
    }
    if (to.flow->state() == FlowState::kClosed) {
      // The engine forgets a flow that ended, and answers its packets as unknown: a reset.
      if (!(p->h.flags & net::kFlagRst)) {
        Packet rst;
        rst.h.flags = net::kFlagRst;
        rst.h.conn_id = p->h.conn_id;
        rst.h.seq = p->h.ack;
        send(p->to, std::move(rst));
      }
      continue;
    }
    Packet* raw = p.get();
    if (to.flow->receive(raw->h, raw->payload.data(), static_cast<uint32_t>(raw->payload.size()), raw, now_us))
      p.release();  // the flow keeps it and hands it back through release()
  }
}

void SimWire::step(uint64_t us) {
  const uint64_t until = now_us + us;
  while (now_us < until) {
    deliver_due();
    wheel.advance(now_us, [&](TimerWheel::Timer& t) { static_cast<Flow*>(t.owner)->on_timer(now_us); });
    for (auto& e : end) {
      e->run_app();
      if (e->flow) {
        e->flow->pump(now_us);
        min_cwnd_seen = std::min(min_cwnd_seen, e->flow->cwnd());
        max_cwnd_seen = std::max(max_cwnd_seen, e->flow->cwnd());
      }
    }
    uint64_t next = now_us + 20;
    if (!queue_.empty()) next = std::min(next, std::max(queue_.top()->at_us, now_us + 1));
    // The server's answer is due (Workload::reply_after_us): wake for it, not 20 us later.
    const uint64_t answer_at = end[1]->last_rx_at_us + work.reply_after_us;
    if (work.rpc && work.reply_after_us != 0 && answer_at > now_us) next = std::min(next, answer_at);
    now_us = std::min(next, until);
  }
}

bool SimWire::run(uint64_t sim_limit_us) {
  const uint64_t limit = now_us + sim_limit_us;
  while (now_us < limit) {
    step(200);
    const bool done = end[0]->next_expected == end[1]->plan.size() && end[1]->next_expected == end[0]->plan.size() &&
                      end[0]->unacked_msgs == 0 && end[1]->unacked_msgs == 0;
    if (done) return true;
    for (auto& e : end)
      if (e->closed) return false;
  }
  return false;
}

}  // namespace machnet::transport::sim
