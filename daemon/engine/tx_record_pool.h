// Messages being sent to other machines, as the engine trusts them, and their pool.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/engine_channel.h"
#include "transport/flow.h"

namespace machnet::engine {

// A message being sent: the sender's buffers, checked once when the message was taken
// (the application may scribble on the shared descriptors afterwards; these copies are
// what the engine trusts).
struct TxRecord {
  EngineChannel* channel = nullptr;  // null once the bytes were copied out (channel gone)
  std::vector<uint32_t> idx, len;
  std::vector<uint8_t> bytes;        // the message, when `channel` is null
  bool uniform = false;              // every buffer but the last is full: offsets compute directly
  transport::TxMessage msg;
};

// Grows to the high-water mark of messages in flight, then reuses: steady state allocates
// nothing. One per engine.
class TxRecordPool {
 public:
  TxRecord* take() {
    if (free_.empty()) return new TxRecord();
    TxRecord* r = free_.back().release();
    free_.pop_back();
    return r;
  }
  void give_back(TxRecord* r) {
    r->channel = nullptr;
    r->idx.clear();
    r->len.clear();
    if (r->bytes.capacity() > (64u << 10)) std::vector<uint8_t>().swap(r->bytes);  // do not hoard big copies
    r->bytes.clear();
    free_.emplace_back(r);
  }

 private:
  std::vector<std::unique_ptr<TxRecord>> free_;
};

}  // namespace machnet::engine
