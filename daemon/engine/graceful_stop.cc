// Graceful stop (issue 14): on SIGTERM an engine first delivers what applications already
// handed it, and only then resets what is left, telling each application how its flows
// ended (docs/wire-protocol.md "Stop"). Engine thread, one step per loop iteration once the
// stop was asked for; walking every flow is fine here, it happens only while stopping.
#include <cerrno>

#include <spdlog/spdlog.h>

#include "engine/engine.h"

namespace machnet::engine {

using transport::FlowError;
using transport::FlowState;

namespace {

// Something of this flow is still unacknowledged: queued messages, segments in flight, or
// a FIN not yet sent. A flow waiting only for its peer's direction (half-closed) has
// delivered all we accepted.
bool has_pending(const RemoteFlow& f) {
  if (f.ended || f.flow.state() == FlowState::kClosed) return false;
  return f.flow.inflight() > 0 || f.flow.queued_messages() > 0 || f.flow.fin_pending();
}

}  // namespace

void Engine::begin_stop(std::chrono::milliseconds drain) {
  stop_drain_ns_.store(static_cast<uint64_t>(drain.count()) * 1'000'000, std::memory_order_relaxed);
  stop_requested_.store(true, std::memory_order_release);
}

bool Engine::stop_tick_st() {
  switch (stop_phase_) {
    case StopPhase::kRunning:
      stop_began_ns_ = now_ns_;
      stop_deadline_ns_ = now_ns_ + stop_drain_ns_.load(std::memory_order_relaxed);
      close_intake_st();
      stop_phase_ = StopPhase::kDraining;
      [[fallthrough]];
    case StopPhase::kDraining:
      // Messages keep coming from the rings meanwhile: a send that raced the flag.
      if (now_ns_ < stop_deadline_ns_ && !drained_st()) return false;
      if (now_ns_ < stop_deadline_ns_) close_drained_st();
      stop_phase_ = StopPhase::kClosing;
      [[fallthrough]];
    case StopPhase::kClosing:
      if (now_ns_ < stop_deadline_ns_ && !drained_st()) return false;  // FINs not yet acknowledged
      finish_stop_st();
      return true;
    case StopPhase::kDone:
      return false;
  }
  return false;
}

// Applications may send no more: the flag makes machnet_send fail with ESHUTDOWN (stored
// before we look at the rings again, so a send either sees it or is taken while we
// drain). Connects under way fail; they have nothing to deliver.
void Engine::close_intake_st() {
  for (EngineChannel* ch : channels_)
    std::atomic_ref<uint32_t>(ch->view.header()->daemon_stopping).store(1, std::memory_order_seq_cst);
  std::vector<RemoteFlow*> connecting;
  flows_.for_each_remote([&](RemoteFlow& f) {
    if (f.flow.state() == FlowState::kSynSent || f.arp_deadline_us) connecting.push_back(&f);
  });
  for (RemoteFlow* f : connecting)
    f->flow.abort(FlowError::kLocalAbort, !f->arp_deadline_us && f->flow.state() == FlowState::kSynSent);
  spdlog::info("engine {}: stopping: {} flows deliver what they accepted, for up to {} ms ([daemon] stop_drain_ms)", id_,
               flows_.size(), stop_drain_ns_.load(std::memory_order_relaxed) / 1'000'000);
}

bool Engine::drained_st() const {
  for (EngineChannel* ch : channels_)
    if (stop_phase_ == StopPhase::kDraining && ch->to_daemon.available(1) > 0) return false;
  bool pending = false;
  flows_.for_each_remote([&](const RemoteFlow& f) { pending = pending || has_pending(f); });
  return !pending;
}

// Everything accepted was acknowledged: each flow closes in order (FIN) and its
// application will hear ENETDOWN (the daemon went away, nothing was lost), not a failure.
void Engine::close_drained_st() {
  std::vector<RemoteFlow*> open;
  flows_.for_each_remote([&](RemoteFlow& f) {
    if (!f.ended) open.push_back(&f);
  });
  for (RemoteFlow* f : open) {
    f->stop_drained = true;
    if (f->flow.state() == FlowState::kEstablished) {
      f->flow.close(now_us_);
      mark_dirty_st(*f);
    }
  }
}

// The drain is over (all delivered, or the time is up): whatever is left gets a reset and
// its application the reason; local flows' applications hear that the daemon stopped.
void Engine::finish_stop_st() {
  std::vector<RemoteFlow*> left;
  flows_.for_each_remote([&](RemoteFlow& f) {
    if (!f.ended) left.push_back(&f);
  });
  for (RemoteFlow* f : left) f->flow.abort(FlowError::kLocalAbort, true);
  flows_.for_each([](const FlowKey& key, const FlowEntry& e) {
    if (!e.is_remote() && e.local_owner) e.local_owner->notify_flow_ended_st(key, ENETDOWN);
  });
  if (port_) port_->flush_tx_st();
  reap_flows_st();
  stop_phase_ = StopPhase::kDone;
  spdlog::info("engine {}: stopped its flows in {} ms: {} closed in order, {} reset", id_,
               (now_ns_ - stop_began_ns_) / 1'000'000, stop_closed_, stop_reset_);
  stop_done_.store(true, std::memory_order_release);
}

// What a flow's application hears when it ends while the daemon stops: ENETDOWN when
// everything it sent was acknowledged (not ESHUTDOWN: applications may take that for the
// peer's orderly close), ECONNABORTED when the stop reset it with messages
// still queued or in flight, the usual errno for a failure, nothing for an orderly end the
// application itself or the peer asked for.
int Engine::stop_errno_st(const RemoteFlow& f, FlowError why) const {
  if (f.stop_drained) return ENETDOWN;
  switch (why) {
    case FlowError::kPeerReset:
    case FlowError::kProtocolError:
    case FlowError::kStalled: return ECONNRESET;
    case FlowError::kRetransmitLimit:
    case FlowError::kIdleTimeout: return ETIMEDOUT;
    case FlowError::kLocalAbort: return ECONNABORTED;
    default: return 0;
  }
}

}  // namespace machnet::engine
