// What a Flow needs from its owner: a way to put packets on the wire, the sender's message
// bytes, and the receiving application's buffers. The engine implements it over DPDK mbufs
// and channels; the transport's unit tests over a simulated wire. Keeping the Flow behind
// this interface is what lets the transport be pure logic.
#pragma once

#include <cstdint>

#include "net/wire_format.h"

namespace machnet::transport {

// A message queued for sending. Owned by the owner of the flow; the flow links it into its
// send queue and hands it back through FlowIo::tx_done.
struct TxMessage {
  uint32_t len = 0;
  void* cookie = nullptr;     // the owner's (where the bytes are)
  TxMessage* next = nullptr;  // the flow's send queue
};

// Why a flow ended.
enum class FlowError : uint8_t {
  kNone,
  kConnectTimeout,   // no answer to the SYN within [transport] connect_timeout_ms
  kRefused,          // the peer answered the SYN with a reset: nobody listens there
  kRetransmitLimit,  // [transport] give_up_ms of timeouts with no ACK: the peer is gone
  kPeerReset,        // the peer reset the flow
  kProtocolError,    // this side reset it: the peer broke the message framing
  kPeerClosed,       // the peer closed the flow (after delivering everything it sent)
  kLocalClose,       // this side closed it
  kLocalAbort,       // this side aborted it (its application went away)
  kStalled,          // the peer left a message half-sent while others waited for its room
  kIdleTimeout,      // no message either way for [transport] idle_timeout_ms
};
const char* to_string(FlowError e);

class FlowIo {
 public:
  virtual ~FlowIo() = default;

  // Sends one packet. `h` is complete; data packets carry bytes [offset, offset + len) of
  // `msg` (msg is null otherwise). False when nothing could be sent now (no packet
  // buffer): the flow tries again later.
  virtual bool transmit(const net::MachnetHeader& h, const TxMessage* msg, uint32_t offset, uint32_t len) = 0;
  // Every byte of `msg` was acknowledged, or the flow ended: its buffers may go back.
  virtual void tx_done(TxMessage* msg) = 0;

  // A message of msg_len bytes starts arriving in order: reserve room for all of it (its
  // remaining segments then need nothing more). False when the receiving application has
  // no room for it now: the flow waits until the owner calls Flow::on_rx_room.
  virtual bool rx_begin(uint32_t msg_len) = 0;
  virtual void rx_append(const uint8_t* data, uint32_t len) = 0;
  virtual void rx_end() = 0;      // the message is whole: hand it to the application
  virtual void rx_discard() = 0;  // the flow ended mid-message: give back what rx_begin took
  // About how many packets of messages not begun yet the receiving application could take
  // now (flow control; the flow adds the rest of the message it has begun, which rx_begin
  // reserved). An owner that reports less than it could hold later must call
  // Flow::on_rx_room when room comes back, so the peer hears the window reopen.
  virtual uint32_t rx_room_packets() = 0;
  // The flow would keep the packet it is handling (out of order, or its application has
  // no room yet). False when the owner cannot spare the buffer now: the flow drops it
  // unacknowledged and its sender sends it again. Each true is paired with one release().
  virtual bool may_hold() { return true; }
  // A packet the flow kept (receive() returned true) is no longer needed.
  virtual void release(void* handle) = 0;

  virtual void on_established() = 0;
  virtual void on_closed(FlowError why) = 0;
};

}  // namespace machnet::transport
