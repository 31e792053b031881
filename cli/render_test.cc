// Covers: machnetctl's renderers (flows, arp, human units) and the Prometheus converter of
// `stats --prometheus`, on fixed JSON answers, so the output format is pinned without a daemon.
#include <algorithm>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "prometheus.h"
#include "render.h"

namespace machnetctl {
namespace {

using nlohmann::json;

template <typename Fn>
std::string render(Fn fn, const json& data) {
  std::ostringstream out;
  fn(out, data);
  return out.str();
}

TEST(Units, BytesAndCounts) {
  EXPECT_EQ(bytes_text(0), "0 B");
  EXPECT_EQ(bytes_text(1023), "1023 B");
  EXPECT_EQ(bytes_text(1536), "1.5 KiB");
  EXPECT_EQ(bytes_text(3 * 1024 * 1024), "3.0 MiB");
  EXPECT_EQ(bytes_text(json()), "-");
  EXPECT_EQ(count_text(999), "999");
  EXPECT_EQ(count_text(1200), "1.2K");
  EXPECT_EQ(count_text(3'400'000), "3.4M");
  EXPECT_EQ(count_text(json()), "-");
}

const json kFlow = json::parse(R"({"engine":0,"local_ip":"10.77.0.11","local_port":49152,"remote_ip":"10.77.0.12",
  "remote_port":888,"state":"established","role":"client","channel":1,"pid":123,"command":"hello_world",
  "tx_msgs":1200,"tx_bytes":1536,"rx_msgs":7,"rx_bytes":3145728,"tx_packets":0,"rx_packets":0,
  "retransmissions":2,"rto_timeouts":0,"fast_retransmits":0,"srtt_us":85,"rto_us":0,"cwnd":32,
  "peer_window":0,"inflight":0,"error":""})");

TEST(Status, EnginesFromRowsOrFromAnOlderDaemonsNumber) {
  EXPECT_EQ(engines_text(json::parse(R"([{"id":0,"core":-1,"loops":5},{"id":1,"core":3}])")),
            "2 (0 on any core, 1 on core 3)");
  EXPECT_EQ(engines_text(json::array()), "0");
  EXPECT_EQ(engines_text(json(1)), "1");
  const std::string text = render(print_status, json::parse(R"({"version":"0.1.0","state":"running",
                                                                "engines":[{"id":0,"core":-1}]})"));
  EXPECT_NE(text.find("Engines: 1 (0 on any core)\n"), std::string::npos) << text;
  const std::string two = render(print_status, json::parse(R"({"engines":[
    {"id":0,"core":2,"queue":0,"flows":5,"channels":2,"loops_per_s":1234.4,"busy_fraction":0.25,"steered_in":9,
     "spins_caught":70,"spins_expired":7},
    {"id":1,"core":3,"queue":1,"flows":1,"channels":1,"steered_out":9}]})"));
  EXPECT_NE(two.find("ENGINE  CORE  QUEUE  FLOWS  CHANNELS  LOOPS/S  BUSY  STEERED IN  STEERED OUT  STEER DROPS  SPINS CAUGHT/OUT\n"
                     "0       2     0      5      2         1234     25%   9           0            0            70/7\n"
                     "1       3     1      1      1         0        0%    0           9            0            0/0\n"),
            std::string::npos)
      << two;
}

TEST(Channels, OneRowPerChannelWithNonZeroDrops) {
  const json data = json::parse(R"({"channels":[{"id":1,"engine":0,"pid":42,"uid":1000,"command":"srv",
    "hugetlb":false,"size_bytes":4096,"listening":[7001,7002],"to_daemon":{"used":1,"slots":256},
    "to_app":{"used":0,"slots":256},"msgs_in":3,"bytes_in":300,"msgs_out":2,"bytes_out":200,"held":0,
    "drops_total":1,"drops":{"bad_chain":1,"unknown_flow":0}}],"count":1,"applications":1,"max_channels":32})");
  EXPECT_EQ(render(print_channels, data),
            "1 channel(s) of 1 application(s), limit 32\n"
            "ID  ENG  PID  UID   COMMAND  LISTEN     TX RING  RX RING  MSGS IN  BYTES IN  MSGS OUT  BYTES OUT  DROPS\n"
            "1   0    42   1000  srv      7001,7002  1/256    0/256    3        300       2         200        bad_chain=1\n");
}

TEST(Flows, OneRowPerFlow) {
  const json data = {{"flows", json::array({kFlow})}, {"count", 1}};
  EXPECT_EQ(render(print_flows, data),
            "1 flow\n"
            "LOCAL             REMOTE          STATE        CH  ENG  PID  COMMAND      TX MSGS  TX BYTES  RX MSGS  "
            "RX BYTES  RETRANS  RTT(us)  CWND  RWND\n"
            "10.77.0.11:49152  10.77.0.12:888  established  1   0    123  hello_world  1.2K     1.5 KiB   7        "
            "3.0 MiB   2        85       32    0\n");
}

TEST(Flows, MissingFieldsAreDashesAndErrorsFollowTheState) {
  json sparse = {{"local_ip", "10.0.0.1"}, {"local_port", 1}, {"state", "reset"}, {"error", "peer reset"},
                 {"srtt_us", 0}};
  const std::string text = render(print_flows, json{{"flows", json::array({sparse})}});
  EXPECT_NE(text.find("1 flow\n"), std::string::npos) << text;
  EXPECT_NE(text.find("10.0.0.1:1  -       reset (peer reset)  -   -    -    -        -        -         -        -"),
            std::string::npos)
      << text;
  // Every cell of the row is there: 15 columns, the missing ones "-" (RTT 0 = no sample yet).
  std::istringstream rows(text);
  std::string line;
  for (int i = 0; i < 3; ++i) std::getline(rows, line);
  std::istringstream cells(line);
  std::vector<std::string> row;
  for (std::string cell; cells >> cell;) row.push_back(cell);
  EXPECT_EQ(row, (std::vector<std::string>{"10.0.0.1:1", "-", "reset", "(peer", "reset)", "-", "-", "-", "-", "-",
                                           "-", "-", "-", "-", "-", "-", "-"}));
}

TEST(Flows, Empty) {
  EXPECT_EQ(render(print_flows, json{{"flows", json::array()}, {"count", 0}}), "no flows\n");
  EXPECT_EQ(render(print_flows, json::object()), "no flows\n");
}

TEST(Arp, EntriesThenPending) {
  // What the daemon sends (engine/port_io.cc): pending addresses carry waiting_ms. (This
  // test used to feed a "tries" field the daemon never sent, so the column always read "-".)
  const json data = json::parse(R"({"entries":[{"ip":"10.77.0.12","mac":"aa:bb:cc:dd:ee:ff","age_ms":1200}],
                                    "pending":[{"ip":"10.77.0.13","waiting_ms":300}]})");
  EXPECT_EQ(render(print_arp, data),
            "IP          MAC                STATE     AGE\n"
            "10.77.0.12  aa:bb:cc:dd:ee:ff  resolved  1.2s\n"
            "10.77.0.13  -                  pending   0.3s\n");
  EXPECT_EQ(render(print_arp, json::parse(R"({"entries":[],"pending":[]})")), "no ARP entries\n");
}

// What the daemon's "stats" answers today (daemon.cc, engine/port_io.cc), trimmed, plus the
// shapes the converter promises to handle for fields added later.
const json kStats = json::parse(R"({
  "port": {
    "rx_frames": 10, "tx_frames": 4, "no_mbuf": 0, "arp_requests_answered": 1,
    "drops": {"bad_udp_checksum": 3, "not_for_us": 0},
    "device": {"ipackets": 11, "ibytes": 1500},
    "mempool_free": 8191,
    "name": "net_af_packet0",
    "link_up": true
  },
  "engines": [{"id": 0, "rx_packets": 5, "cwnd": 32}, {"id": 1, "rx_packets": 6, "cwnd": 16}],
  "channels": [{"id": "a\"b\\c\nd", "msgs_in": 1}],
  "flows_by_state": {"established": 2},
  "listening": [888, 999],
  "odd key-name": 1.5
})");

TEST(Prometheus, ExactOutput) {
  // nlohmann::json orders object keys alphabetically.
  EXPECT_EQ(stats_to_prometheus(kStats),
            "# HELP machnet_channels_msgs_in_total machnetd stats: channels[].msgs_in, by channel\n"
            "# TYPE machnet_channels_msgs_in_total counter\n"
            "machnet_channels_msgs_in_total{channel=\"a\\\"b\\\\c\\nd\"} 1\n"
            "# HELP machnet_engines_cwnd machnetd stats: engines[].cwnd, by engine\n"
            "# TYPE machnet_engines_cwnd gauge\n"
            "machnet_engines_cwnd{engine=\"0\"} 32\n"
            "machnet_engines_cwnd{engine=\"1\"} 16\n"
            "# HELP machnet_engines_rx_packets_total machnetd stats: engines[].rx_packets, by engine\n"
            "# TYPE machnet_engines_rx_packets_total counter\n"
            "machnet_engines_rx_packets_total{engine=\"0\"} 5\n"
            "machnet_engines_rx_packets_total{engine=\"1\"} 6\n"
            "# HELP machnet_flows machnetd stats: flows_by_state, by state\n"
            "# TYPE machnet_flows gauge\n"
            "machnet_flows{state=\"established\"} 2\n"
            "# HELP machnet_odd_key_name machnetd stats: odd key-name\n"
            "# TYPE machnet_odd_key_name gauge\n"
            "machnet_odd_key_name 1.5\n"
            "# HELP machnet_port_arp_requests_answered_total machnetd stats: port.arp_requests_answered\n"
            "# TYPE machnet_port_arp_requests_answered_total counter\n"
            "machnet_port_arp_requests_answered_total 1\n"
            "# HELP machnet_port_device_ibytes_total machnetd stats: port.device.ibytes\n"
            "# TYPE machnet_port_device_ibytes_total counter\n"
            "machnet_port_device_ibytes_total 1500\n"
            "# HELP machnet_port_device_ipackets_total machnetd stats: port.device.ipackets\n"
            "# TYPE machnet_port_device_ipackets_total counter\n"
            "machnet_port_device_ipackets_total 11\n"
            "# HELP machnet_port_drops_total machnetd stats: port.drops, by reason\n"
            "# TYPE machnet_port_drops_total counter\n"
            "machnet_port_drops_total{reason=\"bad_udp_checksum\"} 3\n"
            "machnet_port_drops_total{reason=\"not_for_us\"} 0\n"
            "# HELP machnet_port_link_up machnetd stats: port.link_up\n"
            "# TYPE machnet_port_link_up gauge\n"
            "machnet_port_link_up 1\n"
            "# HELP machnet_port_mempool_free machnetd stats: port.mempool_free\n"
            "# TYPE machnet_port_mempool_free gauge\n"
            "machnet_port_mempool_free 8191\n"
            "# HELP machnet_port_no_mbuf_total machnetd stats: port.no_mbuf\n"
            "# TYPE machnet_port_no_mbuf_total counter\n"
            "machnet_port_no_mbuf_total 0\n"
            "# HELP machnet_port_rx_frames_total machnetd stats: port.rx_frames\n"
            "# TYPE machnet_port_rx_frames_total counter\n"
            "machnet_port_rx_frames_total 10\n"
            "# HELP machnet_port_tx_frames_total machnetd stats: port.tx_frames\n"
            "# TYPE machnet_port_tx_frames_total counter\n"
            "machnet_port_tx_frames_total 4\n");
}

// The format's rules, checked line by line rather than against one expected text. (By hand,
// not with <regex>: GCC 12's <regex> trips -Wmaybe-uninitialized in the sanitizer build.)
bool valid_name(std::string_view name, bool colons) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (const char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          (colons && c == ':')))
      return false;
  return true;
}

// label="value",label="value": names valid, values with only \\, \" and \n escapes.
bool valid_labels(std::string_view text) {
  size_t i = 0;
  while (true) {
    const size_t eq = text.find('=', i);
    if (eq == std::string_view::npos || !valid_name(text.substr(i, eq - i), false) || eq + 1 >= text.size() ||
        text[eq + 1] != '"')
      return false;
    i = eq + 2;
    while (i < text.size() && text[i] != '"') {
      if (text[i] == '\n') return false;
      if (text[i] == '\\') {
        if (i + 1 >= text.size() || (text[i + 1] != '\\' && text[i + 1] != '"' && text[i + 1] != 'n')) return false;
        ++i;
      }
      ++i;
    }
    if (i >= text.size()) return false;  // unterminated value
    ++i;
    if (i == text.size()) return true;
    if (text[i] != ',') return false;
    ++i;
  }
}

TEST(Prometheus, FormatRules) {
  const std::string text = stats_to_prometheus(kStats);
  std::set<std::string> helped, typed, finished;
  std::string current;
  std::istringstream lines(text);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.starts_with("# HELP ")) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(valid_name(name, true)) << line;
      EXPECT_TRUE(helped.insert(name).second) << "HELP twice: " << line;
      if (!current.empty()) finished.insert(current);
      current = name;
    } else if (line.starts_with("# TYPE ")) {
      const size_t space = line.find(' ', 7);
      const std::string name = line.substr(7, space - 7), type = line.substr(space + 1);
      EXPECT_EQ(name, current) << "TYPE not right after its HELP: " << line;
      EXPECT_TRUE(typed.insert(name).second) << "TYPE twice: " << line;
      EXPECT_TRUE(type == "counter" || type == "gauge") << line;
      EXPECT_EQ(type == "counter", name.ends_with("_total")) << line;
    } else {
      ASSERT_FALSE(line.starts_with("#")) << line;
      ++samples;
      const size_t brace = line.find('{'), space = line.rfind(' ');
      ASSERT_NE(space, std::string::npos) << line;
      const std::string name = line.substr(0, std::min(brace, space));
      EXPECT_TRUE(valid_name(name, true)) << line;
      EXPECT_EQ(name, current) << "sample outside its family: " << line;
      EXPECT_FALSE(finished.contains(name)) << "family split: " << line;
      EXPECT_TRUE(name.starts_with("machnet_")) << line;
      if (brace != std::string::npos && brace < space) {
        ASSERT_EQ(line[space - 1], '}') << line;
        EXPECT_TRUE(valid_labels(std::string_view(line).substr(brace + 1, space - brace - 2))) << line;
      }
      const std::string value = line.substr(space + 1);
      EXPECT_EQ(value.find_first_not_of("0123456789.e+-"), std::string::npos) << line;
    }
  }
  EXPECT_EQ(helped, typed);
  EXPECT_EQ(samples, 17);
  EXPECT_TRUE(valid_labels(R"(a="x\"y",b="\\")"));
  EXPECT_FALSE(valid_labels(R"(a="x"y")"));
}

TEST(Prometheus, NamesAndLabelValues) {
  EXPECT_EQ(prometheus_name("rx-frames.total"), "rx_frames_total");
  EXPECT_EQ(prometheus_name("9lives"), "_9lives");
  EXPECT_EQ(prometheus_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_TRUE(prometheus_is_counter("ipackets"));
  EXPECT_TRUE(prometheus_is_counter("drops"));
  EXPECT_FALSE(prometheus_is_counter("mempool_free"));
  EXPECT_FALSE(prometheus_is_counter("cwnd"));
  EXPECT_TRUE(prometheus_is_counter("bytes_out"));
}

TEST(Prometheus, NoPortNoMetrics) {
  EXPECT_EQ(stats_to_prometheus(json::object()), "");
}

TEST(Prometheus, StatsPrinterUsesTheConverter) {
  EXPECT_EQ(render(print_stats_prometheus, json{{"port", {{"rx_frames", 1}}}}),
            "# HELP machnet_port_rx_frames_total machnetd stats: port.rx_frames\n"
            "# TYPE machnet_port_rx_frames_total counter\n"
            "machnet_port_rx_frames_total 1\n");
}

}  // namespace
}  // namespace machnetctl
