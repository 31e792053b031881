// libFuzzer target for the transport's receive side: whatever a peer sends after the
// handshake (any header fields, any payload, in any order, with time passing) must leave a
// flow that never crashes, never hands the application more bytes than a message said it
// had, never ends a message early, and gives back every packet it kept exactly once.
//
// Input: records of [48-byte Machnet header][1 byte payload length][payload][1 byte: µs to
// advance the clock / 4]. Headers are decoded as the wire would be, conn_id forced to the
// flow's (a wrong one never reaches a flow: the engine drops it first), seq and ack folded
// into a range around the flow's own numbers.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <set>

#include "net/wire_format.h"
#include "transport/flow.h"

namespace {

using machnet::transport::Flow;
using machnet::transport::FlowError;
using machnet::transport::FlowIo;
using machnet::transport::TxMessage;

[[noreturn]] void violated() { __builtin_trap(); }

class CheckingIo final : public FlowIo {
 public:
  bool transmit(const machnet::net::MachnetHeader&, const TxMessage* msg, uint32_t offset, uint32_t len) override {
    if (msg && uint64_t{offset} + len > msg->len) violated();
    return true;
  }
  void tx_done(TxMessage* msg) override {
    if (!sent.erase(msg)) violated();  // handed back twice, or never ours
    delete msg;
  }
  bool rx_begin(uint32_t msg_len) override {
    if (open) violated();  // the flow must discard the open message first
    if (room == 0) return false;
    open = true;
    left = msg_len;
    return true;
  }
  void rx_append(const uint8_t*, uint32_t len) override {
    if (!open || len > left) violated();
    left -= len;
  }
  void rx_end() override {
    if (!open || left != 0) violated();
    open = false;
    --room;
  }
  void rx_discard() override { open = false; }
  uint32_t rx_room_packets() override { return room * 4; }
  void release(void* handle) override {
    if (!kept.erase(handle)) violated();
  }
  void on_established() override {}
  void on_closed(FlowError) override {}

  std::set<TxMessage*> sent;
  std::set<void*> kept;
  bool open = false;
  uint32_t left = 0;
  uint32_t room = 64;  // messages the "application" takes before it stops reading
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace machnet;
  constexpr uint32_t kConn = 7;
  constexpr uint32_t kPeerIsn = 0xfffffff0u;  // sequence numbers wrap within the run
  constexpr uint32_t kOurIsn = 1000;
  transport::FlowParams params;
  params.mss = 64;
  params.max_message_bytes = 4096;
  params.give_up_us = 50'000;
  uint64_t now = 1'000'000;
  transport::TimerWheel wheel(now);
  CheckingIo io;
  {
    Flow flow(params, io, wheel, kConn, kOurIsn);
    net::MachnetHeader syn;
    syn.flags = net::kFlagSyn;
    syn.conn_id = kConn;
    syn.seq = kPeerIsn;
    syn.window = 16;
    flow.accept(syn, now);
    for (int i = 0; i < 3; ++i) {  // something of ours in flight, for ACKs to act on
      auto* m = new TxMessage{200, nullptr, nullptr};
      io.sent.insert(m);
      flow.send(m);
    }
    size_t pos = 0;
    uint64_t handle_id = 1;
    while (pos + net::kMachnetHeaderSize + 2 <= size && flow.state() != transport::FlowState::kClosed) {
      net::MachnetHeader h = net::decode_machnet_header(data + pos);
      pos += net::kMachnetHeaderSize;
      h.conn_id = kConn;
      // Sequence and ACK numbers near where the flow is, so that most records land in the
      // window instead of being dropped as out of range (the raw 32 bits would almost never).
      h.seq = kPeerIsn - 16 + (h.seq & 0xff);
      h.ack = kOurIsn - 2 + (h.ack & 0xf);
      const uint32_t want = data[pos++];
      const uint32_t len = std::min<uint32_t>(want, static_cast<uint32_t>(size - pos));
      const uint8_t* payload = data + pos;
      pos += len;
      void* handle = reinterpret_cast<void*>(handle_id++);
      if (flow.receive(h, payload, len, handle, now)) io.kept.insert(handle);
      if (pos < size) now += uint64_t{data[pos++]} * 4;
      if ((handle_id & 7) == 0 && io.room == 0) io.room = 8;  // the application reads again
      wheel.advance(now, [&](transport::TimerWheel::Timer& t) { static_cast<Flow*>(t.owner)->on_timer(now); });
      flow.on_rx_room(now);
      flow.pump(now);
    }
  }  // the flow's destructor gives everything back
  if (!io.kept.empty() || !io.sent.empty()) violated();
  return 0;
}
