// JSON for the admin snapshots (snapshots.h): the admin protocol's wire form. to_json writes
// exactly the keys of docs/control-protocol.md; from_json is lenient (a key an older daemon
// does not send keeps its default, an optional one stays empty), so a newer machnetctl can
// read an older daemon.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "admin/snapshots.h"

namespace machnet::admin {

void to_json(nlohmann::json& j, const RingUse& r);
void from_json(const nlohmann::json& j, RingUse& r);
void to_json(nlohmann::json& j, const FaultCounters& f);
void from_json(const nlohmann::json& j, FaultCounters& f);
void to_json(nlohmann::json& j, const DeviceCounters& d);
void from_json(const nlohmann::json& j, DeviceCounters& d);
void to_json(nlohmann::json& j, const ArpEntry& e);
void from_json(const nlohmann::json& j, ArpEntry& e);
void to_json(nlohmann::json& j, const ArpPending& p);
void from_json(const nlohmann::json& j, ArpPending& p);
void to_json(nlohmann::json& j, const FlowRow& r);
void from_json(const nlohmann::json& j, FlowRow& r);
void to_json(nlohmann::json& j, const FlowTable& t);  // {"flows": [...], "count": n}
void from_json(const nlohmann::json& j, FlowTable& t);
void to_json(nlohmann::json& j, const ArpSnapshot& a);
void from_json(const nlohmann::json& j, ArpSnapshot& a);
void to_json(nlohmann::json& j, const PortCounters& p);
void from_json(const nlohmann::json& j, PortCounters& p);
void to_json(nlohmann::json& j, const ChannelRow& c);
void from_json(const nlohmann::json& j, ChannelRow& c);
void to_json(nlohmann::json& j, const ChannelTable& t);  // {"channels": [...], "count": n, ...}
void from_json(const nlohmann::json& j, ChannelTable& t);
void to_json(nlohmann::json& j, const EngineRow& e);
void from_json(const nlohmann::json& j, EngineRow& e);

}  // namespace machnet::admin
