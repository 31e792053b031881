// Every flow an engine serves, in one map from its 4-tuple (as this end's application names
// it: src = this host) to an entry that is either local (both ends are channels of this
// daemon: messages are copied from one channel to the other) or remote (a transport flow to
// another machine's daemon). Connect, accept, close, channel removal and listing all go
// through here. Engine thread only.
#pragma once

#include <cstddef>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/engine_channel.h"
#include "engine/flow_key.h"
#include "engine/remote_flow.h"

namespace machnet::engine {

struct FlowEntry {
  std::unique_ptr<RemoteFlow> remote;  // a flow to another machine; null for a local one
  EngineChannel* local_owner = nullptr;  // local: the channel whose app holds this end
  EngineChannel* local_peer = nullptr;   // local: the other end's channel (null once it went)
  bool local_connector = false;          // local: this end chose the ephemeral port

  bool is_remote() const { return remote != nullptr; }
  // The channel whose application sends and receives on this end (null: orphaned).
  EngineChannel* owner() const { return remote ? remote->owner : local_owner; }
  bool connector() const { return remote ? remote->client : local_connector; }
};

class FlowTable {
 public:
  FlowTable() { map_.reserve(4096); }

  FlowEntry* find(const FlowKey& key) {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }
  bool contains(const FlowKey& key) const { return map_.contains(key); }

  // The entry that `ch` holds under `key`, whichever way round the app named the flow
  // (machnet_close may be given the flow as received: src = the peer).
  FlowEntry* find_owned(const FlowKey& key, const EngineChannel* ch) {
    for (const FlowKey& k : {key, key.reversed()}) {
      FlowEntry* e = find(k);
      if (e && e->owner() == ch && ch != nullptr) return e;
    }
    return nullptr;
  }

  void add_local(const FlowKey& key, EngineChannel* owner, EngineChannel* peer, bool connector) {
    map_[key] = FlowEntry{nullptr, owner, peer, connector};
  }
  RemoteFlow& add_remote(std::unique_ptr<RemoteFlow> f) {
    RemoteFlow& r = *f;
    FlowEntry& e = map_[r.key];
    if (e.remote) forget_remote(*e.remote);
    e = FlowEntry{std::move(f), nullptr, nullptr, false};
    ++remote_count_;
    ++per_remote_ip_[r.key.dst_ip];
    return r;
  }

  // Removes `key`; hands back the remote flow it held, if any, for the caller to reap.
  std::unique_ptr<RemoteFlow> erase(const FlowKey& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    std::unique_ptr<RemoteFlow> r = std::move(it->second.remote);
    if (r) forget_remote(*r);
    map_.erase(it);
    return r;
  }

  // The keys of every entry `ch` owns (a copy: callers erase while they go).
  std::vector<FlowKey> keys_owned_by(const EngineChannel* ch) const {
    std::vector<FlowKey> keys;
    for (const auto& [key, e] : map_)
      if (e.owner() == ch) keys.push_back(key);
    return keys;
  }

  template <typename F>
  void for_each(F&& f) const {
    for (const auto& [key, e] : map_) f(key, e);
  }
  template <typename F>
  void for_each_remote(F&& f) const {
    if (remote_count_ == 0) return;
    for (const auto& [key, e] : map_)
      if (e.remote) f(*e.remote);
  }

  size_t size() const { return map_.size(); }
  size_t remote_count() const { return remote_count_; }
  // Remote flows with this peer address (the cap per remote address).
  uint32_t remote_count_for(uint32_t remote_ip) const {
    auto it = per_remote_ip_.find(remote_ip);
    return it == per_remote_ip_.end() ? 0 : it->second;
  }

 private:
  void forget_remote(const RemoteFlow& r) {
    --remote_count_;
    auto it = per_remote_ip_.find(r.key.dst_ip);
    if (it != per_remote_ip_.end() && --it->second == 0) per_remote_ip_.erase(it);
  }

  std::unordered_map<FlowKey, FlowEntry, FlowKeyHash> map_;
  size_t remote_count_ = 0;
  std::unordered_map<uint32_t, uint32_t, RemoteIpHash> per_remote_ip_;  // remote flows by peer address
};

}  // namespace machnet::engine
