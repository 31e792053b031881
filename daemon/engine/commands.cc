// The engine's commands, run on the engine thread between bursts: channels come and go,
// listen, connect (locally or across the network), close, and the `flows` listing. Each
// has one code path over the one flow table.
#include <algorithm>
#include <cerrno>
#include <thread>

#include <fmt/format.h>

#include "engine/engine.h"
#include "engine/tuning.h"
#include "util/logging.h"

namespace machnet::engine {

// A command is answered once: its waiter (execute) wakes, its callback (submit) runs.
void Engine::complete_st(Command& cmd) {
  auto on_done = std::move(cmd.on_done);
  cmd.done.store(1, std::memory_order_release);
  cmd.done.notify_one();
  if (on_done) on_done();  // may free cmd: nothing touches it after this
}

Result<void> Engine::execute_within(std::shared_ptr<Command> cmd, std::chrono::milliseconds deadline) {
  // Commands given up on earlier are freed once the engine has answered them.
  std::erase_if(abandoned_, [](const std::shared_ptr<Command>& c) { return c->done.load() != 0; });
  cmd->done.store(0);
  if (!thread_.joinable()) {
    run_command_st(*cmd);
    return {};
  }
  const auto until = std::chrono::steady_clock::now() + deadline;
  auto expired = [&] { return std::chrono::steady_clock::now() >= until; };
  auto pause = [](int round) {
    if (round < 64) std::this_thread::yield();
    else std::this_thread::sleep_for(std::chrono::microseconds(100));
  };
  for (int round = 0; !commands_.push(cmd.get()); ++round) {
    if (expired())
      return make_error(fmt::format("engine {} did not take a command within {} ms (its queue is full): "
                                    "it may be stuck; see the watchdog and `machnetctl status`",
                                    id_, deadline.count()));
    pause(round);
  }
  for (int round = 0; cmd->done.load(std::memory_order_acquire) == 0; ++round) {
    if (expired()) {
      abandoned_.push_back(std::move(cmd));
      return make_error(fmt::format("engine {} did not answer within {} ms: it may be stuck; see the watchdog and "
                                    "`machnetctl status`",
                                    id_, deadline.count()));
    }
    pause(round);
  }
  return {};
}

bool Engine::poll_commands_st() {
  Command* cmd;
  bool any = false;
  while (commands_.pop(&cmd)) {
    run_command_st(*cmd);
    any = true;
  }
  if (any) publish_counts_st();
  return any;
}

void Engine::run_command_st(Command& cmd) {
  cmd.error = 0;
  cmd.reason.clear();
  now_ns_ = clock_ns();
  now_us_ = now_ns_ / 1000;
  switch (cmd.kind) {
    case Command::Kind::kAddChannel: add_channel_st(cmd.channel); break;
    case Command::Kind::kRemoveChannel: remove_channel_st(cmd.channel); break;
    case Command::Kind::kListen: listen_st(cmd); break;
    case Command::Kind::kConnect:
      connect_st(cmd);
      return;  // completes itself, maybe later (the handshake)
    case Command::Kind::kCloseFlow: close_flow_st(cmd); break;
    case Command::Kind::kFlows: flow_rows_st(*cmd.flows_out); break;
    case Command::Kind::kArp: *cmd.arp_out = port_ ? port_->arp_snapshot_st(now_us_) : admin::ArpSnapshot{}; break;
  }
  complete_st(cmd);
}

void Engine::add_channel_st(EngineChannel* ch) {
  ch->engine_id = id_;
  // Attached while the daemon stops: its sends are refused from the start.
  if (stopping_st()) std::atomic_ref<uint32_t>(ch->view.header()->daemon_stopping).store(1, std::memory_order_seq_cst);
  channels_.push_back(ch);
  watch_doorbell_st(*ch);
}

void Engine::remove_channel_st(EngineChannel* ch) {
  // Messages the application queued before it detached or exited are still delivered
  // (an app that sends and exits at once must not lose its last message); bounded by the
  // ring. Not once a stopping engine closed its flows: those messages were refused.
  for (uint32_t i = 0; stop_phase_ <= StopPhase::kDraining && i <= ch->to_daemon.size() / kBurst && take_from_app_st(*ch); ++i) {
  }
  ring_doorbells_st();
  for (const FlowKey& key : flows_.keys_owned_by(ch)) {
    FlowEntry* e = flows_.find(key);
    if (!e->is_remote()) {
      erase_local_end_st(key);
      continue;
    }
    // Flows to other machines close in order: what the application sent before it left
    // still reaches the peer (copied out of the channel's memory, which goes away), then
    // a FIN. A connect under way fails; a RST only if a SYN went out (not while ARP was
    // still resolving: no MAC to send to).
    RemoteFlow& f = *e->remote;
    if (f.flow.state() == transport::FlowState::kSynSent || f.arp_deadline_us) {
      f.flow.abort(transport::FlowError::kLocalAbort, !f.arp_deadline_us && f.flow.state() == transport::FlowState::kSynSent);
    } else {
      f.orphan_st(now_us_);
      mark_dirty_st(f);
    }
  }
  if (port_) port_->flush_tx_st();
  reap_flows_st();
  ch->blocked_flows.clear();
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (it->second == ch) {
      give_back_port_st(it->first);
      it = listeners_.erase(it);
    } else {
      ++it;
    }
  }
  unwatch_doorbell_st(*ch);
  std::erase(channels_, ch);
}

bool Engine::take_port_st(uint16_t port) {
  if (port_uses_[port] == 0 && !shared_.ports.claim(port, id_)) return false;
  ++port_uses_[port];
  return true;
}

void Engine::give_back_port_st(uint16_t port) {
  if (port_uses_[port] == 0) return;
  if (--port_uses_[port] == 0) {
    shared_.ports.release(port, id_);
    if (PortCharge& c = port_charges_[port]; c.kind != 0) {
      shared_.user_ports.release(c.uid, static_cast<UserPorts::Kind>(c.kind - 1));
      c = PortCharge{};
    }
  }
}

bool Engine::charge_port_st(uint16_t port, const EngineChannel* ch, UserPorts::Kind kind) {
  const uid_t uid = ch ? ch->uid : 0;
  if (!shared_.user_ports.try_charge(uid, kind)) {
    give_back_port_st(port);
    // A listen or connect refused (never per packet): the app gets EDQUOT with the reason.
    MACHNET_LOG_RATE_LIMITED(spdlog::level::warn, "uid {}: {} refused at [limits] {} ({})", uid,
                             kind == UserPorts::kListen ? "listen" : "connect",
                             kind == UserPorts::kListen ? "max_listen_ports_per_user" : "max_ephemeral_ports_per_user",
                             shared_.user_ports.cap(kind));
    return false;
  }
  port_charges_[port] = PortCharge{uid, static_cast<uint8_t>(kind + 1)};
  return true;
}

std::string Engine::ephemeral_quota_reason() const {
  return fmt::format("this user's flows hold {} ephemeral ports already ([limits] max_ephemeral_ports_per_user)",
                     shared_.user_ports.cap(UserPorts::kEphemeral));
}

// An ephemeral port that nobody uses, taken for one connector; 0 when all are taken. With
// RSS over several queues, only a port whose replies the NIC hashes to our queue will do.
uint16_t Engine::ephemeral_port_st(uint32_t remote_ip, uint16_t remote_port) {
  for (uint32_t tries = 0; tries < 65536u - kFirstEphemeral; ++tries) {
    const uint16_t p = next_ephemeral_;
    next_ephemeral_ = next_ephemeral_ == 65535 ? kFirstEphemeral : next_ephemeral_ + 1;
    if (port_uses_[p] != 0 || shared_.ports.owner(p) != PortDirectory::kNobody) continue;
    if (shared_.rss && remote_ip != local_ip_ && !shared_.rss->replies_reach(static_cast<uint16_t>(id_), local_ip_, p, remote_ip, remote_port))
      continue;
    // A former listener port may still carry (orphaned) flows to this very peer.
    if (flows_.contains(FlowKey{local_ip_, remote_ip, p, remote_port})) continue;
    if (take_port_st(p)) return p;
  }
  return 0;
}

void Engine::erase_local_end_st(const FlowKey& key) {
  FlowEntry* e = flows_.find(key);
  if (e == nullptr || e->is_remote()) return;
  if (FlowEntry* p = flows_.find(key.reversed()); p && !p->is_remote() && p->local_peer == e->local_owner)
    p->local_peer = nullptr;
  if (e->local_connector) give_back_port_st(key.src_port);
  flows_.erase(key);
}

void Engine::listen_st(Command& cmd) {
  if (cmd.local_ip != local_ip_) {
    cmd.error = EADDRNOTAVAIL;
    cmd.reason = "not this daemon's address";
    return;
  }
  if (cmd.local_port == 0) {
    cmd.error = EINVAL;
    cmd.reason = "port 0 cannot be listened on";
    return;
  }
  auto it = listeners_.find(cmd.local_port);
  if (it != listeners_.end()) {
    if (it->second == cmd.channel) return;  // listening twice is harmless
    cmd.error = EADDRINUSE;
    cmd.reason = "another channel listens on that port";
    return;
  }
  if (port_uses_[cmd.local_port] != 0 || !take_port_st(cmd.local_port)) {
    cmd.error = EADDRINUSE;
    cmd.reason = port_uses_[cmd.local_port] != 0 ? "the port is in use by a connected flow"
                                                 : "the port is in use (a listener or flow of another engine)";
    return;
  }
  if (!charge_port_st(cmd.local_port, cmd.channel, UserPorts::kListen)) {
    cmd.error = EDQUOT;
    cmd.reason = fmt::format("this user listens on {} ports already ([limits] max_listen_ports_per_user)",
                             shared_.user_ports.cap(UserPorts::kListen));
    return;
  }
  listeners_.emplace(cmd.local_port, cmd.channel);
}

void Engine::connect_st(Command& cmd) {
  if (stopping_st()) {
    cmd.error = ESHUTDOWN;
    cmd.reason = "the daemon is stopping";
    return complete_st(cmd);
  }
  if (cmd.local_ip != local_ip_) {
    cmd.error = EADDRNOTAVAIL;
    cmd.reason = "local_ip is not this daemon's address";
    return complete_st(cmd);
  }
  if (cmd.remote_ip != local_ip_) return connect_remote_st(cmd);
  connect_local_st(cmd);
}

// Both ends are channels of this daemon. Served by this engine: two local entries, each
// naming the other, and messages are copied from one channel to the other. Served by
// another engine: a transport flow like one to another machine (connect_remote_st), whose
// frames go between the two engines through the steering rings instead of the wire
// (on_loopback_st).
void Engine::connect_local_st(Command& cmd) {
  auto l = listeners_.find(cmd.remote_port);
  if (l == listeners_.end()) {
    const int owner = shared_.ports.owner(cmd.remote_port);
    if (owner != PortDirectory::kNobody && owner != static_cast<int>(id_) && port_ && shared_.steering)
      return connect_remote_st(cmd);
    cmd.error = ECONNREFUSED;
    cmd.reason = "nobody listens on that port";
    return complete_st(cmd);
  }
  const uint16_t port = ephemeral_port_st(local_ip_, cmd.remote_port);
  if (port == 0) {
    cmd.error = EMFILE;
    cmd.reason = "no free ephemeral port";
    return complete_st(cmd);
  }
  if (!charge_port_st(port, cmd.channel, UserPorts::kEphemeral)) {
    cmd.error = EDQUOT;
    cmd.reason = ephemeral_quota_reason();
    return complete_st(cmd);
  }
  const FlowKey mine{local_ip_, cmd.remote_ip, port, cmd.remote_port};
  erase_local_end_st(mine.reversed());  // a stale, peerless end left over from an earlier flow
  flows_.add_local(mine, cmd.channel, l->second, true);
  flows_.add_local(mine.reversed(), l->second, cmd.channel, false);
  cmd.flow = channel::CtlFlow{mine.src_ip, mine.dst_ip, mine.src_port, mine.dst_port};
  complete_st(cmd);
}

void Engine::connect_remote_st(Command& cmd) {
  auto fail = [&](int err, std::string why) {
    cmd.error = err;
    cmd.reason = std::move(why);
    complete_st(cmd);
  };
  if (port_ == nullptr)
    return fail(ENETUNREACH, "this daemon has no network port ([nic] mode = \"none\"): only its own address is reachable");
  const uint16_t port = ephemeral_port_st(cmd.remote_ip, cmd.remote_port);
  if (port == 0) return fail(EMFILE, "no free ephemeral port");
  if (!charge_port_st(port, cmd.channel, UserPorts::kEphemeral)) return fail(EDQUOT, ephemeral_quota_reason());
  const FlowKey key{local_ip_, cmd.remote_ip, port, cmd.remote_port};
  uint32_t conn_id = rng_();
  if (conn_id == 0) conn_id = 1;
  RemoteFlow& f = create_remote_st(key, cmd.channel, true, conn_id);
  f.pending_connect = &cmd;
  // To our own address (a listener on another engine): our own MAC, no ARP; the port sends
  // the frames to that engine instead of the wire.
  const auto mac = cmd.remote_ip == local_ip_ ? std::optional(port_->interface().mac)
                                              : port_->resolve_st(Ipv4Address{cmd.remote_ip}, now_us_);
  if (mac) {
    f.addr.dst_mac = *mac;
    f.flow.connect(now_us_);
  } else {
    f.arp_deadline_us = now_us_ + uint64_t{transport_.connect_timeout_ms} * 1000;
    arp_waiters_.push_back(&f);
  }
}

void Engine::close_flow_st(Command& cmd) {
  const FlowKey key{cmd.flow.src_ip, cmd.flow.dst_ip, cmd.flow.src_port, cmd.flow.dst_port};
  FlowEntry* e = flows_.find_owned(key, cmd.channel);
  if (e == nullptr) {
    cmd.error = ENOENT;
    cmd.reason = "no such flow on this channel";
    return;
  }
  if (e->is_remote()) {
    // What the application sent before machnet_close_flow may still wait in its ring (the
    // close came through the control socket and overtook it): take it first, so it goes
    // before the FIN instead of being refused as sent after the close. Bounded by the ring.
    for (uint32_t i = 0; i <= cmd.channel->to_daemon.size() / kBurst && take_from_app_st(*cmd.channel); ++i) {
    }
    e->remote->flow.close(now_us_);  // orderly: what is queued still goes, then a FIN
    mark_dirty_st(*e->remote);
    return;
  }
  // A local flow: both ends stop, if the other end is still this flow's.
  const FlowKey mine = flows_.find(key) == e ? key : key.reversed();
  FlowEntry* peer = flows_.find(mine.reversed());
  const bool peer_live = peer && !peer->is_remote() && peer->local_peer == cmd.channel;
  erase_local_end_st(mine);
  if (peer_live) erase_local_end_st(mine.reversed());
}

void Engine::flow_rows_st(std::vector<admin::FlowRow>& out) {
  flows_.for_each([&](const FlowKey& key, const FlowEntry& e) {
    if (e.is_remote()) {
      out.push_back(flow_row_st(*e.remote));
      return;
    }
    admin::FlowRow& row = out.emplace_back();
    row.engine = id_;
    row.local_ip = Ipv4Address{key.src_ip}.to_string();
    row.local_port = key.src_port;
    row.remote_ip = Ipv4Address{key.dst_ip}.to_string();
    row.remote_port = key.dst_port;
    row.state = e.local_peer ? "local" : "closed";
    row.role = e.local_connector ? "client" : "server";
    row.channel = e.local_owner ? e.local_owner->id : 0;
  });
  // Flows that failed lately stay listed a while, with their error, for whoever looks.
  while (!failed_.empty() && now_us_ - failed_.front().first > kFailedFlowsShownUs) failed_.pop_front();
  for (const auto& [at, row] : failed_) {
    out.push_back(row);
    out.back().ended_s_ago = (now_us_ - at) / 1'000'000;
  }
}

}  // namespace machnet::engine
