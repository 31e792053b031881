// `machnetctl stats --prometheus`: the daemon's "stats" answer in the Prometheus text
// exposition format (version 0.0.4), so that node_exporter's textfile collector or any
// scraper can read it. The conversion is generic, so fields the daemon adds later appear
// without changes here:
//   - a number (or boolean, as 0/1) at JSON path a.b.c becomes machnet_a_b_c;
//   - an object named "drops", or "<name>_by_<label>", becomes one metric with a label:
//     port.drops.bad_udp_checksum -> machnet_port_drops_total{reason="bad_udp_checksum"};
//   - an array of objects becomes labels: engines[{"id":0,"rx":1}] -> machnet_engines_rx{engine="0"}
//     (label named after the array, singular; value the element's "id", else its index);
//   - strings, nulls and arrays of scalars are not metrics and are left out.
// Metrics whose name ends like a count of events (frames, packets, bytes, errors, drops,
// ...) are counters and get the conventional _total suffix; the rest are gauges.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace machnetctl {

std::string stats_to_prometheus(const nlohmann::json& stats, std::string_view prefix = "machnet");

// The pieces, exposed for the unit test.
std::string prometheus_name(std::string_view text);          // [a-zA-Z_:][a-zA-Z0-9_:]*
std::string prometheus_label_value(std::string_view text);   // \ " and newline escaped
bool prometheus_is_counter(std::string_view key);

}  // namespace machnetctl
