// The admin snapshots' JSON: the keys and types docs/control-protocol.md promises, optional
// members absent when empty, and a lenient read back (what machnetctl relies on).
#include "admin/snapshots_json.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace machnet::admin {
namespace {

using nlohmann::json;

TEST(FlowRowJson, LocalFlowHasNoTransportKeys) {
  FlowRow r;
  r.local_ip = r.remote_ip = "127.0.0.1";
  r.local_port = 49152;
  r.remote_port = 888;
  r.state = "local";
  r.role = "client";
  r.channel = 3;
  const json j = r;
  EXPECT_EQ(j, json::parse(R"({"engine":0,"local_ip":"127.0.0.1","local_port":49152,"remote_ip":"127.0.0.1",
                               "remote_port":888,"state":"local","role":"client","channel":3})"));
}

TEST(FlowRowJson, RemoteFlowRoundTrips) {
  FlowRow r;
  r.engine = 1;
  r.state = "reset";
  r.role = "server";
  r.pid = 123;
  r.command = "hello";
  r.transport.emplace();
  r.transport->cwnd = 32;
  r.transport->tx_msgs = 7;
  r.transport->error = "reset by peer";
  r.ended_s_ago = 5;
  const json j = r;
  for (const char* key : {"tx_msgs", "tx_bytes", "rx_msgs", "rx_bytes", "tx_packets", "rx_packets", "retransmissions",
                          "rto_timeouts", "fast_retransmits", "spurious_timeouts", "rack_timer_losses", "tlp_probes",
                          "tlp_recoveries", "recoveries", "rx_duplicates", "rx_out_of_order",
                          "rx_no_room", "protocol_errors", "rx_hold_refused", "srtt_us", "rttvar_us", "rto_us", "cwnd", "peer_window",
                          "inflight", "queued_msgs", "error", "pid", "command", "ended_s_ago"})
    EXPECT_TRUE(j.contains(key)) << key;
  const FlowRow back = j.get<FlowRow>();
  EXPECT_EQ(json(back), j);
}

TEST(FlowTableJson, CountsRows) {
  FlowTable t;
  t.flows.resize(2);
  const json j = t;
  EXPECT_EQ(j["count"], 2);
  EXPECT_EQ(j["flows"].size(), 2u);
}

TEST(PortCountersJson, OptionalPartsOnlyWhenSet) {
  PortCounters p;
  p.drops["unknown_flow"] = 3;
  json j = p;
  EXPECT_FALSE(j.contains("faults"));
  EXPECT_FALSE(j.contains("device"));
  EXPECT_FALSE(j.contains("mempool_free"));
  EXPECT_EQ(j["drops"]["unknown_flow"], 3);
  p.faults.emplace().dropped_rx = 1;
  p.device.emplace().ipackets = 9;
  p.mempool_free = 100;
  j = p;
  EXPECT_EQ(j["faults"]["dropped_rx"], 1);
  EXPECT_EQ(j["device"]["ipackets"], 9);
  EXPECT_EQ(j["mempool_free"], 100);
  EXPECT_EQ(json(j.get<PortCounters>()), j);
}

TEST(ChannelTableJson, KeysOfTheProtocol) {
  ChannelTable t;
  t.applications = 1;
  t.max_channels = 64;
  ChannelRow& c = t.channels.emplace_back();
  c.id = 1;
  c.listening = {888};
  c.to_app.used = 2;
  c.to_app.slots = 256;
  c.drops["too_long"] = 0;
  const json j = t;
  EXPECT_EQ(j["count"], 1);
  EXPECT_EQ(j["applications"], 1);
  EXPECT_EQ(j["max_channels"], 64);
  EXPECT_EQ(j["channels"][0]["to_app"], json::parse(R"({"used":2,"slots":256})"));
  EXPECT_EQ(j["channels"][0]["listening"], json::parse("[888]"));
  EXPECT_EQ(json(j.get<ChannelTable>()), j);
}

TEST(EngineRowJson, UnpinnedIsMinusOne) {
  const json j = EngineRow{};
  EXPECT_EQ(j["core"], -1);
  EXPECT_EQ(j["steer_drops"], 0);
}

TEST(ArpSnapshotJson, EntriesAndPending) {
  ArpSnapshot a;
  a.entries.push_back({"10.0.0.2", "aa:bb:cc:dd:ee:ff", 12});
  a.pending.push_back({"10.0.0.3", 4});
  const json j = a;
  EXPECT_EQ(j, json::parse(R"({"entries":[{"ip":"10.0.0.2","mac":"aa:bb:cc:dd:ee:ff","age_ms":12}],
                               "pending":[{"ip":"10.0.0.3","waiting_ms":4}]})"));
}

TEST(LenientRead, MissingKeysKeepDefaults) {
  const auto e = json::parse(R"({"id":2})").get<EngineRow>();
  EXPECT_EQ(e.id, 2u);
  EXPECT_EQ(e.core, -1);
  const auto f = json::parse(R"({"state":"local"})").get<FlowRow>();
  EXPECT_FALSE(f.transport.has_value());
  EXPECT_FALSE(f.pid.has_value());
}

}  // namespace
}  // namespace machnet::admin
