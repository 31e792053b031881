// The [transport] keys (config/config.h) as the transport's FlowParams: the one mapping the
// engine uses for its flows and the transport's tests use for "the shipped defaults".
#pragma once

#include <algorithm>
#include <cstdint>

#include "config/config.h"
#include "net/wire_format.h"
#include "transport/flow.h"

namespace machnet::transport {

inline FlowParams configured_params(const TransportConfig& t, uint32_t max_message_bytes) {
  FlowParams p;
  p.cc.algorithm = t.congestion_control == machnet::CongestionControl::kFixed ? CcAlgorithm::kFixed : CcAlgorithm::kSwift;
  p.cc.initial_window = t.initial_window;
  p.cc.min_window = t.min_window;
  p.cc.max_window = t.max_window;
  p.cc.target_delay_us = t.target_delay_us;
  p.cc.flow_scaling_range_us = t.flow_scaling_range_us;
  p.rto_min_us = t.rto_min_us;
  p.rto_max_us = t.rto_max_us;
  p.initial_rto_us = std::clamp<uint32_t>(10'000, t.rto_min_us, t.rto_max_us);
  p.give_up_us = uint64_t{t.give_up_ms} * 1000;
  p.keepalive_us = uint64_t{t.keepalive_ms} * 1000;
  p.idle_timeout_us = uint64_t{t.idle_timeout_ms} * 1000;
  p.connect_timeout_us = t.connect_timeout_ms * 1000;
  p.max_message_bytes = max_message_bytes;
  // Without a port ("auto" has no link to ask) 1500; Engine::attach_port sets the port's.
  p.mss = static_cast<uint32_t>(net::payload_per_packet(t.mtu.value_or(1500)));
  p.ack_delay_us = 15;  // a reply on the same host comes within a few us; the peer's TLP waits >= 50
  return p;
}

}  // namespace machnet::transport
